"""zerog benchmarks: ours beside a peer, measured in one run on this machine (`python -m bench`)."""
