"""The HTTP client under the hook: settings, authentication, the request choke point and paging."""
