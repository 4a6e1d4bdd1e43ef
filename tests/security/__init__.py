"""Hostile storage: what a writer of the container, bucket, key space or directory cannot make us do."""
