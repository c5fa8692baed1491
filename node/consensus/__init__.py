"""QBFT consensus: a pure state machine (`core`), the engine that drives it with timers and
the network (`engine`), its messages and signatures, finality certificates and the journal."""
