//! A simulated contact center (placeholder until the generator lands).
