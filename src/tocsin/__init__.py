"""tocsin: an integrated early-warning exchange for allied missile warning.

Data flows one way: sources -> exchange -> fusion -> warning -> sinks. Each stage
is a plain object that takes and returns messages of the exchange format
(:mod:`tocsin.wire`); pure maths lives in :mod:`tocsin.geo`, :mod:`tocsin.dynamics`
and :mod:`tocsin.sensors` and never imports I/O.
"""

__version__ = "0.1.0"
