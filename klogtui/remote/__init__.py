"""Remote proxy mode: the collectors of a cluster read through the API server's pod proxy."""
