"""Media relay benchmark: one 640x360 30 fps publisher, viewers added until the frame rate
they get drops below 28 fps; our encode-once relay against aiortc's stock ``MediaRelay``
(a VP8 encoder per viewer), in one run. ``python -m bench.media --help``; results in
docs/benchmarks.md, section "Media relay"."""
