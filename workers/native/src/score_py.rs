//! A contact's re-score in one call (workers/scoring/scorer.py, `Scorer.snapshot` and
//! `next_rescore`, are the reference).

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::contact;
use crate::engagement_py::{pruned, EngagementCore};
use crate::ledger::Decay;
use crate::ledger::Interaction;
use crate::score::{next_ready, Rater, Scoring};
use crate::Ledger;

#[pyclass(frozen, module = "dealstream_core")]
pub struct ScoreCore {
    engagement: Py<EngagementCore>,
    scoring: Scoring,
    letters: Vec<Py<PyString>>, // the grades' letters, by index
}

/// A published score as the re-score compares with it: (total, stars, sales-ready, grade).
pub(crate) type Published<'py> = (i64, i64, bool, Option<Bound<'py, PyString>>);

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

/// A re-score's outcome (`Rescored`'s fields).
struct Outcome<'py> {
    lines: Option<Bound<'py, PyList>>,
    points: i64,
    total: i64,
    stars: i64,
    letter: Option<Bound<'py, PyString>>,
    ready: bool,
    changed: bool,
    kept: Bound<'py, Ledger>,
    due: Option<f64>,
}

/// What `engage` makes its results with: the classes of a snapshot and of a re-score, the
/// rules version, the function that shares a product line's string.
type Makers<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyString>,
    Bound<'py, PyAny>,
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
        let o = self.score(py, ledger, fit, was_ready, last.as_ref(), now, deleted)?;
        Ok((
            o.lines, o.points, o.total, o.stars, o.letter, o.ready, o.changed, o.kept, o.due,
        ))
    }

    /// An engagement applied to a contact's `state` and the contact re-scored at `now`, in one
    /// call: the `Rescore` that `Scorer.rescore(state, now, event_id, engaged)` gives, with
    /// `engaged` made by `EngagementCore.record` and `interest` (workers/scoring/scorer.py and
    /// contact.py are the reference). `fit`, `fit_cents`: the profile's lines and their sum;
    /// `makers`: (the snapshot's class, the re-score's, the rules version, the function that
    /// shares a product line's string). None when the last published score is of another
    /// rules version (the reference path records that version).
    #[pyo3(signature = (state, fit, fit_cents, now, event_id, kind, at, source, product_line, makers))]
    #[allow(clippy::too_many_arguments)]
    fn engage<'py>(
        &self,
        py: Python<'py>,
        state: &Bound<'py, PyAny>,
        fit: &Bound<'py, PyAny>,
        fit_cents: i64,
        now: f64,
        event_id: &Bound<'py, PyString>,
        kind: &str,
        at: f64,
        source: Option<&str>,
        product_line: Option<&Bound<'py, PyString>>,
        makers: &Bound<'py, PyTuple>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let (snapshot, rescored, version, shared): Makers<'py> = makers.extract()?;
        let last = state.getattr(intern!(py, "last"))?;
        let published = contact::published(&last, &version)?;
        let Some(published) = published else {
            return Ok(None); // another rules version's
        };
        let ledger = state.getattr(intern!(py, "ledger"))?;
        let line = match product_line {
            Some(p) => Some(p.to_str()?),
            None => None,
        };
        let interaction = Interaction {
            event_id: event_id.to_str()?,
            kind,
            at,
            source,
            form: None,
            product_line: line,
        };
        let recorded = self
            .engagement
            .get()
            .recorded(ledger.downcast::<Ledger>()?.get(), &interaction);
        let recorded = Bound::new(py, recorded)?;
        let interest = match product_line {
            Some(p) => Some(contact::interest(state, &shared.call1((p,))?, at)?),
            None => None,
        };
        let was_ready = matches!(published, Some((_, _, true, _)));
        let deleted: bool = state.getattr(intern!(py, "deleted"))?.extract()?;
        let o = self.score(
            py,
            &recorded,
            fit_cents,
            was_ready,
            published.as_ref(),
            now,
            deleted,
        )?;
        let snap = match &o.lines {
            Some(lines) => {
                let breakdown = fit.add(lines)?; // the profile's lines, then the engagement's
                Some(snapshot.call1((
                    fit_cents, o.points, o.total, o.stars, &o.letter, o.ready, breakdown, &version,
                ))?)
            }
            None => None,
        };
        let became_ready = o.ready && !was_ready;
        let new = contact::copied(
            state,
            &o.kept,
            event_id,
            snap.as_ref(),
            became_ready,
            o.changed,
        )?;
        if let Some(interest) = interest {
            interest.set(&new)?;
        }
        let snap = snap.unwrap_or_else(|| py.None().into_bound(py));
        Ok(Some(rescored.call1((
            new,
            snap,
            o.changed,
            became_ready,
            o.due,
        ))?))
    }
}

impl ScoreCore {
    /// The re-score's arithmetic (`rescore` and `engage` are its Python faces).
    #[allow(clippy::too_many_arguments)]
    fn score<'py>(
        &self,
        py: Python<'py>,
        ledger: &Bound<'py, Ledger>,
        fit: i64,
        was_ready: bool,
        last: Option<&Published<'py>>,
        now: f64,
        deleted: bool,
    ) -> PyResult<Outcome<'py>> {
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
            let published = match (last, changed) {
                (Some((l_total, _, l_ready, _)), false) => (*l_total, *l_ready),
                _ => (total, ready),
            };
            match found {
                Some(found) => s.next_due(due, found, rules.period, published, fit, now),
                None => due,
            }
        };
        Ok(Outcome {
            lines,
            points,
            total,
            stars,
            letter,
            ready,
            changed,
            kept,
            due,
        })
    }
}
