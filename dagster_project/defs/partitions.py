"""Quarterly partitions (the registry's first year … the current quarter): a partition is one
quarter's files of one source family. Dagster has no quarterly class; a static list keeps
keys readable."""

import dagster as dg

from dagster_project.lib.quarters import QUARTERS

quarterly = dg.StaticPartitionsDefinition(QUARTERS)
