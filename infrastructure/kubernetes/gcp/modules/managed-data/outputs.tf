output "postgres_host" {
  description = "Private IP of Cloud SQL for PostgreSQL 16 (port 5432, database and user leadgen)."
  value       = google_sql_database_instance.postgres.private_ip_address
}

output "postgres_connection_name" {
  description = "Cloud SQL connection name (for the Cloud SQL Auth Proxy, if used)."
  value       = google_sql_database_instance.postgres.connection_name
}

output "redis_host" {
  description = "Private IP of Memorystore for Redis 7 (TLS, AUTH)."
  value       = google_redis_instance.cache.host
}

output "redis_port" {
  description = "Memorystore port."
  value       = google_redis_instance.cache.port
}

output "redis_ca_certificate" {
  description = "CA certificate to verify the Memorystore TLS endpoint."
  value       = try(google_redis_instance.cache.server_ca_certs[0].cert, null)
}

output "secret_ids" {
  description = "Secret Manager secrets holding the credentials (for ExternalSecret remoteRef keys)."
  value       = { for key, secret in google_secret_manager_secret.managed : key => secret.secret_id }
}
