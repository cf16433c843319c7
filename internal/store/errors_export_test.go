package store

// DBErr exposes dbErr to the external tests.
var DBErr = dbErr
