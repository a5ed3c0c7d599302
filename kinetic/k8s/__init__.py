"""Pure builders of the Kubernetes objects Kinetic uses. No I/O: dicts in, dicts out."""
