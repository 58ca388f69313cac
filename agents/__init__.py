"""Tool registry, call executor and the Faust agents that drive them."""
