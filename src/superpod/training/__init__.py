"""Training workload: step time, throughput, MFU and memory of a parallel plan."""
