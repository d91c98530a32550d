// Placeholder until the benchmarks land.
return 0;
