"""The only place that knows table layouts: PynamoDB models and the queries the services need."""
