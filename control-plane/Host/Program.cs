// Placeholder until the host lands.
return 0;
