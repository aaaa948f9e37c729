//! The example jobs in `examples/compute/` (WebAssembly text, compiled
//! here with the `wat` crate), each with a way to make its unit inputs
//! and to read its assembled output: `plexus job demo` and the tests use
//! them, and `plexus job run` runs the same files.

use std::fmt;

/// One bundled example job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Example {
    /// Count primes below 1,000,000 (78,498), one range per unit.
    Primes,
    /// Estimate pi from seeded Monte Carlo draws, one seed per unit.
    Pi,
    /// Render a 240 x 180 Mandelbrot image, a band of rows per unit.
    Mandelbrot,
}

/// Primes are counted below this.
pub const PRIMES_BELOW: u32 = 1_000_000;
/// Monte Carlo draws per unit.
pub const PI_SAMPLES_PER_UNIT: u32 = 200_000;
/// Mandelbrot image size.
pub const MANDELBROT_SIZE: (u32, u32) = (240, 180);

impl Example {
    /// Every example.
    pub const ALL: [Example; 3] = [Example::Primes, Example::Pi, Example::Mandelbrot];

    /// Its name (`primes`, `pi`, `mandelbrot`).
    pub fn name(self) -> &'static str {
        match self {
            Example::Primes => "primes",
            Example::Pi => "pi",
            Example::Mandelbrot => "mandelbrot",
        }
    }

    /// The example by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Its WebAssembly text.
    pub fn source(self) -> &'static str {
        match self {
            Example::Primes => include_str!("../../../../examples/compute/primes.wat"),
            Example::Pi => include_str!("../../../../examples/compute/pi.wat"),
            Example::Mandelbrot => include_str!("../../../../examples/compute/mandelbrot.wat"),
        }
    }

    /// The compiled module.
    pub fn wasm(self) -> Vec<u8> {
        wat::parse_str(self.source()).expect("the bundled examples compile")
    }

    /// The inputs of `units` units (at least one).
    pub fn inputs(self, units: u32) -> Vec<Vec<u8>> {
        let units = units.max(1);
        let split = |total: u32, i: u32| {
            let at = |k: u32| (u64::from(total) * u64::from(k) / u64::from(units)) as u32;
            (at(i), at(i + 1))
        };
        (0..units)
            .map(|i| match self {
                Example::Primes => {
                    let (lo, hi) = split(PRIMES_BELOW, i);
                    [lo.to_le_bytes(), hi.to_le_bytes()].concat()
                }
                Example::Pi => {
                    let seed = u64::from(i) + 1;
                    [&seed.to_le_bytes()[..], &PI_SAMPLES_PER_UNIT.to_le_bytes()].concat()
                }
                Example::Mandelbrot => {
                    let (w, h) = MANDELBROT_SIZE;
                    let (start, end) = split(h, i);
                    [w, h, start, end]
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect()
                }
            })
            .collect()
    }

    /// What the assembled output (every unit's output, in order) says.
    pub fn summary(self, outputs: &[Vec<u8>]) -> String {
        let le = |b: &[u8]| {
            let mut word = [0u8; 8];
            word[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
            u64::from_le_bytes(word)
        };
        match self {
            Example::Primes => {
                let count: u64 = outputs.iter().map(|o| le(o)).sum();
                format!("{count} primes below {PRIMES_BELOW}")
            }
            Example::Pi => {
                let inside: u64 = outputs.iter().map(|o| le(o)).sum();
                let draws = u64::from(PI_SAMPLES_PER_UNIT) * outputs.len() as u64;
                let pi = 4.0 * inside as f64 / draws.max(1) as f64;
                format!("pi ~= {pi:.5} ({inside} of {draws} draws inside)")
            }
            Example::Mandelbrot => {
                let bytes: usize = outputs.iter().map(Vec::len).sum();
                let (w, h) = MANDELBROT_SIZE;
                format!("{w}x{h} image, {bytes} bytes of grey levels (write it with -o x.pgm)")
            }
        }
    }

    /// A header to put before the assembled output when it is written to
    /// a file (the Mandelbrot image becomes a PGM file).
    pub fn header(self) -> Vec<u8> {
        match self {
            Example::Mandelbrot => {
                let (w, h) = MANDELBROT_SIZE;
                format!("P5\n{w} {h}\n255\n").into_bytes()
            }
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Example {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
