"""Operators that move LIPS data from files into other systems."""
