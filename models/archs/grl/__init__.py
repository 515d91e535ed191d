"""GRL (Li et al., CVPR 2023: Efficient and Explicit Modelling of Image Hierarchies for Image Restoration)."""
