"""One adapter per system. An adapter builds one index over the base vectors and searches it
at each point of a parameter sweep; see base.Adapter for the interface."""
