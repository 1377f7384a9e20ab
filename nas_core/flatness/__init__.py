"""Flatness and landscape metrics (docs/algorithms.md §6).

- geometry: distances, neighbourhoods, shortest edit paths, cell shape, skip count (no torch)
- evaluation: shared-weight evaluation of genotypes on fixed batches (BN policy documented there)
- alpha: Hessian eigenvalue by power iteration, A2M sharpness, per-edge α entropy
- landscape: neighbourhood profiles, path barriers, barrier matrix, α-line barrier
- ranking: ranking stability (Kendall τ of a fixed architecture sample across metric epochs)
- hooks: what the search loop calls (FlatnessContext, epoch_metrics, final_metrics)
- jobs: on-demand records for the service (barriers, barrier matrix)
- export: flatness.json
"""
