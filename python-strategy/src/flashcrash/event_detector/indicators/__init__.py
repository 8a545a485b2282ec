"""The detector's indicators: each takes one sample per second of event time (or the latest book)
and gives its `Reading`; work per sample is constant (amortised)."""
