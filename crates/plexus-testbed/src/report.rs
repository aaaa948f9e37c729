//! What a scenario measured: rows of achieved against ideal, each with the
//! bound it must meet, printed as a table.

use std::fmt;

/// Which way a row's ratio (achieved / ideal) must go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// The ratio must be at least this (rates).
    AtLeast(f64),
    /// The ratio must be at most this (times).
    AtMost(f64),
    /// Informational: no bound.
    None,
}

/// One measured figure next to its ideal.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// The measured value.
    pub achieved: f64,
    /// What a perfect run would give.
    pub ideal: f64,
    /// Unit of both values, e.g. "MB/s" or "s".
    pub unit: &'static str,
    /// The bound the ratio must meet.
    pub bound: Bound,
}

impl Row {
    /// achieved / ideal.
    pub fn ratio(&self) -> f64 {
        self.achieved / self.ideal
    }

    /// Whether the row meets its bound.
    pub fn ok(&self) -> bool {
        match self.bound {
            Bound::AtLeast(b) => self.ratio() >= b,
            Bound::AtMost(b) => self.ratio() <= b,
            Bound::None => true,
        }
    }
}

/// The rows of one scenario plus free-form notes.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Measured rows.
    pub rows: Vec<Row>,
    /// Other observations (times, byte counts).
    pub notes: Vec<String>,
}

impl Report {
    /// An empty report for `scenario`.
    pub fn new(scenario: &str) -> Self {
        Self {
            scenario: scenario.to_string(),
            ..Self::default()
        }
    }

    /// Adds a row.
    pub fn row(
        &mut self,
        name: impl Into<String>,
        achieved: f64,
        ideal: f64,
        unit: &'static str,
        bound: Bound,
    ) {
        self.rows.push(Row {
            name: name.into(),
            achieved,
            ideal,
            unit,
            bound,
        });
    }

    /// Adds a note.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Whether every row meets its bound.
    pub fn passed(&self) -> bool {
        self.rows.iter().all(Row::ok)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario {}", self.scenario)?;
        for r in &self.rows {
            let bound = match r.bound {
                Bound::AtLeast(b) => format!(">= {b:.2}"),
                Bound::AtMost(b) => format!("<= {b:.2}"),
                Bound::None => String::new(),
            };
            writeln!(
                f,
                "  {:<44} {:>9.2} {:<4} ideal {:>9.2} {:<4} ratio {:>5.2} {:<8} {}",
                r.name,
                r.achieved,
                r.unit,
                r.ideal,
                r.unit,
                r.ratio(),
                bound,
                if r.ok() { "ok" } else { "FAIL" }
            )?;
        }
        for n in &self.notes {
            writeln!(f, "  {n}")?;
        }
        Ok(())
    }
}
