"""Example DAGs: the daily pull-and-load DAG and the asset-scheduled load. Point a dags folder at this directory, or copy them."""
