//! A contact's re-score in one call (workers/scoring/scorer.py, `Scorer.snapshot` and
//! `next_rescore`, are the reference).

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::engagement_py::{pruned, EngagementCore};
use crate::ledger::Decay;
use crate::score::{next_ready, Rater, Scoring};
use crate::Ledger;

#[pyclass(frozen, module = "dealstream_core")]
pub struct ScoreCore {
    engagement: Py<EngagementCore>,
    scoring: Scoring,
    letters: Vec<Py<PyString>>, // the grades' letters, by index
}

/// A published score as the re-score compares with it: (total, stars, sales-ready, grade).
type Published<'py> = (i64, i64, bool, Option<Bound<'py, PyString>>);

/// (engagement lines, made only when the score is worth publishing (`changed`), engagement
/// points, total, stars, grade, sales-ready, changed, the pruned ledger, when decay may next
/// change what is published).
type Rescored<'py> = (
    Option<Bound<'py, PyList>>,
    i64,
    i64,
    i64,
    Option<Bound<'py, PyString>>,
    bool,
    bool,
    Bound<'py, Ledger>,
    Option<f64>,
);

#[pymethods]
impl ScoreCore {
    /// `bands`: hundredths for 1..5 stars, or None for a share of `ideal_cents`; `grades`:
    /// (minimum, letter), highest first, as `StarRater.grades`.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        engagement: Py<EngagementCore>,
        bands: Option<Vec<i64>>,
        ideal_cents: i64,
        grades: Vec<(i64, String)>,
        threshold: i64,
        hysteresis: i64,
        resolution: i64,
        interval: f64,
    ) -> Self {
        let mut band_floors = bands.clone().unwrap_or_default();
        band_floors.sort_unstable();
        let rater = Rater {
            bands,
            band_floors,
            ideal_cents,
            grades: grades
                .iter()
                .enumerate()
                .map(|(n, (m, _))| (*m, n))
                .collect(),
            grade_floors: grades.iter().map(|(m, _)| *m).collect(),
        };
        let letters = grades
            .iter()
            .map(|(_, l)| PyString::intern(py, l).unbind())
            .collect();
        let scoring = Scoring {
            rater,
            threshold,
            hysteresis,
            resolution,
            interval,
        };
        ScoreCore {
            engagement,
            scoring,
            letters,
        }
    }

    /// The score of a contact with `fit` profile points and `ledger` at `now`, against the
    /// `last` one published (None: none yet); the ledger pruned; and, unless the contact is
    /// `deleted`, when decay may next change what is then published. The engagement's lines
    /// only when the score is worth publishing (None otherwise).
    #[allow(clippy::too_many_arguments)]
    fn rescore<'py>(
        &self,
        py: Python<'py>,
        ledger: &Bound<'py, Ledger>,
        fit: i64,
        was_ready: bool,
        last: Option<Published<'py>>,
        now: f64,
        deleted: bool,
    ) -> PyResult<Rescored<'py>> {
        let engagement = self.engagement.get();
        let rules = &engagement.rules;
        let s = &self.scoring;
        let (lines, points) = engagement.points(ledger.get(), now);
        let total = fit + points;
        let ready = next_ready(was_ready, total, s.threshold, s.hysteresis);
        let stars = s.rater.stars(total);
        let grade = s.rater.grade(total);
        let letter = grade.map(|g| self.letters[g].bind(py).clone());
        let changed = match &last {
            None => true,
            Some((l_total, l_stars, l_ready, l_grade)) => {
                let then = match l_grade {
                    Some(g) => Some(g.to_str()?),
                    None => None,
                };
                let now_grade = match &letter {
                    Some(g) => Some(g.to_str()?),
                    None => None,
                };
                s.key(total, stars, ready, now_grade) != s.key(*l_total, *l_stars, *l_ready, then)
            }
        };
        // most re-scores publish nothing (two in three of a month's): no lines for them
        let lines = if changed {
            Some(engagement.py_lines(py, &lines)?)
        } else {
            None
        };
        let kept = pruned(rules, ledger, now)?;
        let due = if deleted {
            None
        } else {
            let k = kept.get();
            let (due, found) = k.entries.with(|entries| {
                let found = (rules.decay == Decay::HalfLife)
                    .then(|| rules.decay_total(entries, &k.sums, now));
                (rules.next_change(entries, now, s.interval), found)
            });
            let published = match (&last, changed) {
                (Some((l_total, _, l_ready, _)), false) => (*l_total, *l_ready),
                _ => (total, ready),
            };
            match found {
                Some(found) => s.next_due(due, found, rules.period, published, fit, now),
                None => due,
            }
        };
        Ok((
            lines, points, total, stars, letter, ready, changed, kept, due,
        ))
    }
}
