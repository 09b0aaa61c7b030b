"""Circle packing: n disjoint circles in the unit square, maximising the sum of radii.

Modules: ``geometry`` (the strict validity check, the radii LP, features).
"""
