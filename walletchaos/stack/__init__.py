"""The system under test: runtimes that start PostgreSQL, Toxiproxy and wallet replicas."""
