//! Every example's known answer, against a plain Rust version of the same
//! computation.

use super::{
    examples::{Example, MANDELBROT_SIZE, PI_SAMPLES_PER_UNIT, PRIMES_BELOW},
    limits::Limits,
    sandbox::run_unit,
};

fn run_all(example: Example, units: u32) -> Vec<Vec<u8>> {
    let wasm = example.wasm();
    example
        .inputs(units)
        .iter()
        .map(|input| run_unit(&wasm, input, &Limits::DEFAULT).expect("unit runs"))
        .collect()
}

#[test]
fn primes_count_what_is_known() {
    let wasm = Example::Primes.wasm();
    let count = |lo: u32, hi: u32| {
        let input = [lo.to_le_bytes(), hi.to_le_bytes()].concat();
        let out = run_unit(&wasm, &input, &Limits::DEFAULT).unwrap();
        u32::from_le_bytes(out.try_into().unwrap())
    };
    assert_eq!(count(0, 100), 25);
    assert_eq!(count(0, 1000), 168);
    assert_eq!(count(999_900, 1_000_000), 8);
    // Split into units, the counts add up to pi(1,000,000) = 78,498.
    let outputs = run_all(Example::Primes, 12);
    assert_eq!(
        Example::Primes.summary(&outputs),
        format!("78498 primes below {PRIMES_BELOW}")
    );
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn monte_carlo_pi_matches_the_same_draws_in_rust() {
    let outputs = run_all(Example::Pi, 4);
    for (i, out) in outputs.iter().enumerate() {
        let mut state = i as u64 + 1;
        let mut inside = 0u64;
        for _ in 0..PI_SAMPLES_PER_UNIT {
            let x = (splitmix(&mut state) >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            let y = (splitmix(&mut state) >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            inside += u64::from(x * x + y * y < 1.0);
        }
        assert_eq!(u64::from_le_bytes(out[..].try_into().unwrap()), inside);
    }
    let inside: u64 = outputs
        .iter()
        .map(|o| u64::from_le_bytes(o[..].try_into().unwrap()))
        .sum();
    let pi = 4.0 * inside as f64 / (4 * PI_SAMPLES_PER_UNIT) as f64;
    assert!((pi - std::f64::consts::PI).abs() < 0.01, "{pi}");
}

#[test]
fn mandelbrot_rows_match_the_same_sums_in_rust() {
    let (w, h) = MANDELBROT_SIZE;
    let mut expected = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let cr = f64::from(x) * 3.0 / f64::from(w) - 2.0;
            let ci = f64::from(y) * 3.0 / f64::from(h) - 1.5;
            let (mut zr, mut zi, mut i) = (0.0f64, 0.0f64, 0u8);
            while i < 255 {
                let (zr2, zi2) = (zr * zr, zi * zi);
                if zr2 + zi2 > 4.0 {
                    break;
                }
                zi = 2.0 * zr * zi + ci;
                zr = zr2 - zi2 + cr;
                i += 1;
            }
            expected.push(i);
        }
    }
    // Any split into bands gives the same image.
    for units in [1, 7, 12] {
        assert_eq!(run_all(Example::Mandelbrot, units).concat(), expected);
    }
    // The point (0, 0) never escapes; the corner escapes at once.
    let centre = (h / 2 * w + w * 2 / 3) as usize;
    assert_eq!(expected[centre], 255);
    assert_eq!(expected[0], 1);
}

#[test]
fn examples_are_found_by_name() {
    for e in Example::ALL {
        assert_eq!(Example::from_name(e.name()), Some(e));
    }
    assert_eq!(Example::from_name("nope"), None);
}
