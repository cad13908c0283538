"""Pure logic: no database, no broker, no HTTP."""
