//! The sandbox: runs one unit of a WebAssembly module in wasmi, an
//! interpreter, with fuel metering (the instruction budget), a memory
//! limit enforced by a resource limiter, an output cap, and **no imports**:
//! a module that imports anything (a function, memory, table or global)
//! is refused before it is instantiated, so it can reach nothing but its
//! own memory. Validation, wasmi's enforced limits on module shape and the
//! fuel check all run before and while the module runs; a unit can only
//! end with output or a [`UnitError`], never take the node down.
//!
//! # The ABI
//!
//! A module exports:
//!
//! - `memory`: its linear memory;
//! - `alloc(len: i32) -> i32`: returns a pointer to `len` free bytes; the
//!   host writes the unit's input there;
//! - `run(ptr: i32, len: i32) -> i64`: does the work on the input at
//!   `ptr..ptr+len` and returns where the output is, packed as
//!   `(out_ptr << 32) | out_len` (both unsigned 32-bit).
//!
//! The host calls `alloc(input.len())`, copies the input in, calls `run`,
//! and copies `out_len` bytes out from `out_ptr`. Nothing else is called
//! and nothing else is offered: no WASI, no clock, no randomness (a Monte
//! Carlo job takes its seed in the input, so copies agree).

use wasmi::{
    errors::ErrorKind, Config, EnforcedLimits, Engine, Linker, Module, Store, StoreLimits,
    StoreLimitsBuilder, TrapCode,
};

use super::limits::{Limits, UnitError, PAGE};

/// Table elements a module may have (function tables for indirect calls).
const TABLE_ELEMENTS: usize = 100_000;

/// Checks `wasm` before anything runs: valid, shaped within wasmi's strict
/// limits, importing nothing. Returns the compiled module.
fn compile(engine: &Engine, wasm: &[u8]) -> Result<Module, UnitError> {
    let module = Module::new(engine, wasm).map_err(|e| UnitError::Invalid(e.to_string()))?;
    if let Some(import) = module.imports().next() {
        let kind = match import.ty() {
            wasmi::ExternType::Func(_) => "function",
            wasmi::ExternType::Memory(_) => "memory",
            wasmi::ExternType::Table(_) => "table",
            wasmi::ExternType::Global(_) => "global",
        };
        return Err(UnitError::Imports(format!(
            "the {kind} `{}.{}`",
            import.module(),
            import.name()
        )));
    }
    Ok(module)
}

/// Checks `wasm` the way [`run_unit`] does before running it: a runner
/// calls this before sharing a job, so a bad module fails at once.
pub fn check(wasm: &[u8]) -> Result<(), UnitError> {
    compile(&engine(), wasm).map(drop)
}

fn engine() -> Engine {
    let mut config = Config::default();
    config
        .consume_fuel(true)
        .enforced_limits(EnforcedLimits::strict());
    Engine::new(&config)
}

/// Runs one unit: `wasm` on `input` within `limits`. Blocking and CPU
/// bound: call it from a blocking thread (see `pool.rs`).
pub fn run_unit(wasm: &[u8], input: &[u8], limits: &Limits) -> Result<Vec<u8>, UnitError> {
    let engine = engine();
    let module = compile(&engine, wasm)?;
    let memory_bytes = limits.memory_bytes / PAGE * PAGE;
    let limiter = StoreLimitsBuilder::new()
        .memory_size(usize::try_from(memory_bytes).unwrap_or(usize::MAX))
        .table_elements(TABLE_ELEMENTS)
        .instances(1)
        .memories(1)
        .tables(1)
        .trap_on_grow_failure(true)
        .build();
    let mut store = Store::new(&engine, limiter);
    store.limiter(|l| l);
    store
        .set_fuel(limits.fuel)
        .map_err(|e| UnitError::Trap(e.to_string()))?;
    let explain = |e: wasmi::Error| -> UnitError {
        let denied_at_start = matches!(e.kind(), ErrorKind::Instantiation(_))
            && e.to_string().contains("linear memory");
        if matches!(e.kind(), ErrorKind::Memory(_)) || denied_at_start {
            return UnitError::OutOfMemory {
                limit: memory_bytes,
                pages: memory_bytes / PAGE,
            };
        }
        match e.as_trap_code() {
            Some(TrapCode::OutOfFuel) => UnitError::OutOfFuel {
                fuel: limits.fuel,
                secs: Limits::time_of(limits.fuel).as_secs_f64(),
            },
            Some(TrapCode::GrowthOperationLimited) => UnitError::OutOfMemory {
                limit: memory_bytes,
                pages: memory_bytes / PAGE,
            },
            Some(code) => UnitError::Trap(code.to_string()),
            None => UnitError::Trap(e.to_string()),
        }
    };
    let linker = Linker::<StoreLimits>::new(&engine);
    let instance = linker
        .instantiate_and_start(&mut store, &module)
        .map_err(explain)?;
    let memory = instance
        .get_memory(&store, "memory")
        .ok_or_else(|| UnitError::Abi("no exported `memory`".into()))?;
    let alloc = instance
        .get_typed_func::<i32, i32>(&store, "alloc")
        .map_err(|e| UnitError::Abi(format!("`alloc`: {e}")))?;
    let run = instance
        .get_typed_func::<(i32, i32), i64>(&store, "run")
        .map_err(|e| UnitError::Abi(format!("`run`: {e}")))?;
    let len = i32::try_from(input.len()).map_err(|_| UnitError::OutOfMemory {
        limit: memory_bytes,
        pages: memory_bytes / PAGE,
    })?;
    let ptr = alloc.call(&mut store, len).map_err(explain)?;
    memory
        .write(&mut store, ptr as u32 as usize, input)
        .map_err(|_| UnitError::Abi(format!("`alloc({len})` returned {ptr}, outside memory")))?;
    let packed = run.call(&mut store, (ptr, len)).map_err(explain)? as u64;
    let (out_ptr, out_len) = ((packed >> 32) as u32, packed as u32);
    if u64::from(out_len) > limits.output_bytes {
        return Err(UnitError::OutputTooLarge {
            len: u64::from(out_len),
            limit: limits.output_bytes,
        });
    }
    let mut output = vec![0; out_len as usize];
    memory
        .read(&store, out_ptr as usize, &mut output)
        .map_err(|_| UnitError::BadOutput {
            ptr: out_ptr,
            len: out_len,
        })?;
    Ok(output)
}
