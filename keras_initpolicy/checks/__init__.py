"""Static checks of a policy (lint): every diagnostic code, the registry of codes, the reach
analysis and the report formatters. No Keras."""
