//! Compute for others: peers that opt in (`plexus daemon --compute`) run
//! units of WebAssembly jobs for other peers, and a job's results are
//! trusted only where independent workers agree.
//!
//! - [`sandbox`]: runs one unit in wasmi with fuel, memory and output
//!   limits and no imports; the ABI is documented there.
//! - [`limits`]: [`Limits`] and [`UnitError`], why a unit ended without
//!   output.
//! - [`examples`]: the bundled example jobs (primes, Monte Carlo pi,
//!   Mandelbrot rows) and their inputs.

pub mod examples;
pub mod limits;
pub mod sandbox;

#[cfg(test)]
mod examples_tests;
#[cfg(test)]
mod sandbox_tests;

pub use limits::{Limits, UnitError};
pub use sandbox::{check, run_unit};
