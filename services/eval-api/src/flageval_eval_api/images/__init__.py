"""Which images a private deployment may use: eval-api's read model of the image registry."""
