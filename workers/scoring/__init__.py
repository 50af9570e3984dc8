"""Lead scoring: profile fit + engagement with decay, stars, sales-ready with hysteresis.

Pure functions and plain classes; no Faust, Kafka or Redis. Points are kept in hundredths
(integers) so that the breakdown always sums exactly to the total.
"""
