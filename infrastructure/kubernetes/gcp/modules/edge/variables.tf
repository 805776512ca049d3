variable "project_id" {
  description = "Project of the edge resources."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "environment" {
  description = "Deployment environment."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "rate_limit_requests_per_minute" {
  description = "Requests per minute one client IP may send before it is throttled (HTTP 429)."
  type        = number
  default     = 600

  validation {
    condition     = var.rate_limit_requests_per_minute >= 60
    error_message = "rate_limit_requests_per_minute must be at least 60."
  }
}

variable "waf_rules" {
  description = "Preconfigured Cloud Armor WAF expressions (OWASP CRS) that deny with 403, by rule priority."
  type        = map(string)
  default = {
    "1000" = "sqli-v33-stable"
    "1001" = "xss-v33-stable"
    "1002" = "lfi-v33-stable"
    "1003" = "rfi-v33-stable"
    "1004" = "rce-v33-stable"
    "1005" = "scannerdetection-v33-stable"
    "1006" = "protocolattack-v33-stable"
    "1007" = "sessionfixation-v33-stable"
  }

  validation {
    condition     = alltrue([for p in keys(var.waf_rules) : can(tonumber(p))])
    error_message = "waf_rules keys must be numeric priorities."
  }
}
