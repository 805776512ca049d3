# Managed alternatives to the in-cluster PostgreSQL and Redis StatefulSets. An overlay points
# LEADGEN_ database/redis settings at the outputs and reads the credentials through External
# Secrets from the Secret Manager secrets created here.
locals {
  name = "leadgen-${var.environment}"
}

resource "google_compute_global_address" "private_services" {
  project       = var.project_id
  name          = "${local.name}-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = var.private_service_range_prefix
  network       = var.network_id
}

resource "google_service_networking_connection" "private_services" {
  network                 = var.network_id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
}

resource "google_sql_database_instance" "postgres" {
  #checkov:skip=CKV_GCP_6: ssl_mode ENCRYPTED_ONLY rejects every non-TLS connection; client certificates are not used (private IP only).
  #checkov:skip=CKV_GCP_79: PostgreSQL 16 is the version the application and its migrations are built and tested against.
  project             = var.project_id
  name                = "${local.name}-postgres"
  region              = var.region
  database_version    = "POSTGRES_16"
  deletion_protection = var.deletion_protection

  settings {
    tier                        = var.postgres_tier
    edition                     = "ENTERPRISE"
    availability_type           = var.postgres_high_availability ? "REGIONAL" : "ZONAL"
    disk_type                   = "PD_SSD"
    disk_size                   = var.postgres_disk_size_gb
    disk_autoresize             = true
    deletion_protection_enabled = var.deletion_protection
    user_labels                 = var.labels

    ip_configuration {
      ipv4_enabled                                  = false
      private_network                               = var.network_id
      enable_private_path_for_google_cloud_services = true
      ssl_mode                                      = "ENCRYPTED_ONLY"
    }

    # Daily backups kept 30 days plus point-in-time recovery from the transaction log:
    # restores to any second of the last 7 days (RPO well under 15 minutes).
    backup_configuration {
      enabled                        = true
      start_time                     = "02:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = 30
        retention_unit   = "COUNT"
      }
    }

    maintenance_window {
      day          = 7
      hour         = 3
      update_track = "stable"
    }

    insights_config {
      query_insights_enabled  = true
      record_application_tags = true
      record_client_address   = false
    }

    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "leadgen" {
  project  = var.project_id
  instance = google_sql_database_instance.postgres.name
  name     = "leadgen"
}

resource "random_password" "postgres" {
  length  = 32
  special = false
}

resource "google_sql_user" "leadgen" {
  project  = var.project_id
  instance = google_sql_database_instance.postgres.name
  name     = "leadgen"
  password = random_password.postgres.result
}

resource "google_redis_instance" "cache" {
  project                 = var.project_id
  name                    = "${local.name}-redis"
  region                  = var.region
  tier                    = "STANDARD_HA"
  memory_size_gb          = var.redis_memory_size_gb
  redis_version           = "REDIS_7_2"
  authorized_network      = var.network_id
  connect_mode            = "PRIVATE_SERVICE_ACCESS"
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  labels                  = var.labels

  persistence_config {
    persistence_mode    = "RDB"
    rdb_snapshot_period = "ONE_HOUR"
  }

  maintenance_policy {
    weekly_maintenance_window {
      day = "SUNDAY"
      start_time {
        hours   = 3
        minutes = 0
      }
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

# Credentials for External Secrets: leadgen-<environment>-postgres-password and -redis-auth.
resource "google_secret_manager_secret" "managed" {
  for_each = toset(["postgres-password", "redis-auth"])

  project   = var.project_id
  secret_id = "${local.name}-${each.key}"
  labels    = var.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "managed" {
  for_each = google_secret_manager_secret.managed

  secret      = each.value.id
  secret_data = each.key == "postgres-password" ? random_password.postgres.result : google_redis_instance.cache.auth_string
}
