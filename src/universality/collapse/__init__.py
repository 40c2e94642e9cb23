"""Why similarity rises as pairs become one-to-one: the analyses that tell the candidate explanations apart.

- `matched`: every multiplicity bucket scored at a common size (small-n inflation), with one row
  per A partner (duplicated rows) and within strata of pair correlation (weak pairs), each
  against a chance band of row-shuffled draws of the same size;
- `hubs`: the anatomy of the most-mapped A features, and whether each looks split or catch-all;
- `verdict`: which explanations the numbers support, per metric.
"""
