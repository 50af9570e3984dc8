"""`dealstream simulate`: realistic, seeded CRM traffic with time acceleration."""
