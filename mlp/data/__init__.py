"""Data: loaders for the built-in sets and user files, the feature transform, splits and batches."""
