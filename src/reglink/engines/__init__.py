"""The engines one pipeline runs on: DuckDB on one machine (default) or Apache Spark.

The stages are written once. With `engine: spark` the heavy steps -- Splink's blocking and
scoring, the per-person passes of the tables stage, and the aggregate tables (the same SQL
builders rendered as Spark SQL, run by `tables.runner.SparkRunner`) -- run on a Spark session
(`engines.spark`); everything lands in the same warehouse either way.
"""
