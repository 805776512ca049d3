locals {
  name = "leadgen-${var.environment}"
}

# Cloud Armor policy for the public edge. It acts only behind Google's external Application Load
# Balancer: a GKE Gateway (gke-l7-global-external-managed) in front of Envoy, with a
# GCPBackendPolicy naming it (spec.default.securityPolicy). k8s/ does not create that Gateway yet:
# Envoy's proxies sit behind a passthrough load balancer, where the policy does not apply
# (cluster-setup.md, "Edge on GKE").
resource "google_compute_security_policy" "edge" {
  project     = var.project_id
  name        = "${local.name}-edge"
  description = "WAF, Log4Shell and per-IP rate limiting in front of leadgen"
  type        = "CLOUD_ARMOR"

  adaptive_protection_config {
    layer_7_ddos_defense_config {
      enable = true
    }
  }

  advanced_options_config {
    log_level = "VERBOSE"
  }

  rule {
    action      = "deny(403)"
    priority    = 900
    description = "Log4Shell (CVE-2021-44228) probes"
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('cve-canary')"
      }
    }
  }

  dynamic "rule" {
    for_each = var.waf_rules
    content {
      action      = "deny(403)"
      priority    = tonumber(rule.key)
      description = "OWASP CRS ${rule.value}"
      match {
        expr {
          expression = "evaluatePreconfiguredWaf('${rule.value}', {'sensitivity': 1})"
        }
      }
    }
  }

  rule {
    action      = "throttle"
    priority    = 2000
    description = "Per-client-IP rate limit"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.rate_limit_requests_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Default: allow"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}
