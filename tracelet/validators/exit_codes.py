"""Exit codes of ``tracelet validate``, so CI can gate on them.

=====  =====================================================================
code   meaning
=====  =====================================================================
0      the runs match within tolerance (after the listed precision adjustments)
1      the runs differ: a metric key, a point, a param, a tag or an artifact
2      error: a store could not be read, a bad argument, an unexpected failure
=====  =====================================================================
"""

EQUAL = 0
DIFFERENT = 1
ERROR = 2
