"""The measurement harness: size, latency, memory and quality of a model, each in a fresh process."""
