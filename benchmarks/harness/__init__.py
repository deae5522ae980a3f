"""The benchmark harness behind ``benchmarks/run.py``: one small module per measurement."""
