//! Every limit of the sandbox, with the hostile modules of
//! `examples/compute/hostile/`.

use std::time::{Duration, Instant};

use super::{
    examples::Example,
    limits::{Limits, UnitError, PAGE},
    sandbox::{check, run_unit},
};

fn hostile(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../examples/compute/hostile/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    );
    wat::parse_file(path).expect("hostile example compiles")
}

const SMALL: Limits = Limits {
    fuel: 50_000_000,
    memory_bytes: 4 * PAGE,
    output_bytes: 1024,
};

#[test]
fn an_endless_loop_runs_out_of_fuel_quickly() {
    let started = Instant::now();
    let err = run_unit(&hostile("endless"), b"", &SMALL).unwrap_err();
    assert!(
        matches!(
            err,
            UnitError::OutOfFuel {
                fuel: 50_000_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("ran out of fuel"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_memory_bomb_stops_at_the_memory_limit() {
    let err = run_unit(&hostile("membomb"), b"", &SMALL).unwrap_err();
    assert_eq!(
        err,
        UnitError::OutOfMemory {
            limit: 4 * PAGE,
            pages: 4
        }
    );
    assert!(
        err.to_string().contains("memory limit of 262144 bytes"),
        "{err}"
    );
}

#[test]
fn a_huge_initial_memory_is_refused_before_it_runs() {
    let err = run_unit(&hostile("hugememory"), b"", &SMALL).unwrap_err();
    assert!(matches!(err, UnitError::OutOfMemory { .. }), "{err:?}");
}

#[test]
fn a_trap_ends_the_unit_with_its_reason() {
    let err = run_unit(&hostile("trap"), b"x", &SMALL).unwrap_err();
    assert!(matches!(err, UnitError::Trap(_)), "{err:?}");
    assert!(err.to_string().contains("divide by zero"), "{err}");
}

#[test]
fn a_module_that_imports_anything_is_refused_before_it_runs() {
    let err = run_unit(&hostile("imports"), b"", &SMALL).unwrap_err();
    assert_eq!(err, UnitError::Imports("the function `env.clock`".into()));
    assert!(err.to_string().contains("get no imports"), "{err}");
    assert_eq!(check(&hostile("imports")), Err(err));
    // Memory, tables and globals count too.
    let memory = wat::parse_str(r#"(module (import "env" "mem" (memory 1)))"#).unwrap();
    assert!(matches!(check(&memory), Err(UnitError::Imports(m)) if m.contains("memory")));
}

#[test]
fn output_over_the_cap_is_refused() {
    let err = run_unit(&hostile("bigoutput"), b"", &SMALL).unwrap_err();
    assert_eq!(
        err,
        UnitError::OutputTooLarge {
            len: u64::from(u32::MAX),
            limit: 1024
        }
    );
}

#[test]
fn a_module_without_the_abi_says_what_is_missing() {
    let no_run = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "alloc") (param i32) (result i32) (i32.const 0)))"#,
    )
    .unwrap();
    let err = run_unit(&no_run, b"", &SMALL).unwrap_err();
    assert!(
        matches!(&err, UnitError::Abi(m) if m.contains("`run`")),
        "{err:?}"
    );
    let err = run_unit(b"not wasm at all", b"", &SMALL).unwrap_err();
    assert!(matches!(err, UnitError::Invalid(_)), "{err:?}");
}

#[test]
fn output_is_read_within_memory_only() {
    let wild = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "alloc") (param i32) (result i32) (i32.const 0))
             (func (export "run") (param i32 i32) (result i64) (i64.const 0x0000FFFF00000010)))"#,
    )
    .unwrap();
    let err = run_unit(&wild, b"", &SMALL).unwrap_err();
    assert_eq!(
        err,
        UnitError::BadOutput {
            ptr: 0xFFFF,
            len: 16
        }
    );
}

#[test]
fn the_same_unit_ends_the_same_way_every_time() {
    // Fuel, not a clock: an honest copy on any machine gets the same end.
    let wasm = Example::Primes.wasm();
    let input = [0u32.to_le_bytes(), 1_000_000u32.to_le_bytes()].concat();
    let tight = Limits {
        fuel: 1_000_000,
        ..Limits::DEFAULT
    };
    let a = run_unit(&wasm, &input, &tight);
    let b = run_unit(&wasm, &input, &tight);
    assert!(matches!(a, Err(UnitError::OutOfFuel { .. })), "{a:?}");
    assert_eq!(a, b);
}

#[test]
fn fuel_follows_the_time_limit() {
    assert_eq!(Limits::fuel_for(Duration::from_secs(2)), 2_000_000_000);
    assert_eq!(Limits::time_of(2_000_000_000), Duration::from_secs(2));
    assert!(SMALL.within(&Limits::DEFAULT));
    assert!(!Limits::DEFAULT.within(&SMALL));
}
