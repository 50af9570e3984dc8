//! A contact's whole score, its stars and grade, sales-ready, whether it is worth publishing,
//! and when decay may next change what was published: the arithmetic of
//! workers/scoring/scorer.py (`Scorer.snapshot`, `next_rescore`) and stars.py, which stay the
//! reference.

use crate::ledger::round_half_even;

/// Total → 0–5 stars (configured bands, or a share of the ideal score) and optional grades.
pub struct Rater {
    pub bands: Option<Vec<i64>>,
    pub band_floors: Vec<i64>, // the bands sorted: n stars from the n-th
    pub ideal_cents: i64,
    pub grades: Vec<(i64, usize)>, // (minimum, grade index), highest minimum first
    pub grade_floors: Vec<i64>,    // per grade index, its minimum
}

impl Rater {
    pub fn stars(&self, total: i64) -> i64 {
        match &self.bands {
            Some(bands) => bands.iter().filter(|band| total >= **band).count() as i64,
            None => {
                let share = total as f64 / self.ideal_cents as f64;
                ((share * 5.0 + 1e-9).floor() as i64).clamp(0, 5)
            }
        }
    }

    pub fn grade(&self, total: i64) -> Option<usize> {
        self.grades
            .iter()
            .find(|(minimum, _)| total >= *minimum)
            .map(|(_, g)| *g)
    }

    /// The lowest total with the stars and the grade of `total` (None: however low).
    pub fn lowest_alike(&self, total: i64) -> Option<i64> {
        let mut floors: Option<i64> = None; // the highest
        let stars = self.stars(total);
        if stars > 0 && self.bands.is_some() {
            floors = Some(self.band_floors[(stars - 1) as usize]);
        } else if stars > 0 {
            let mut floor = ((stars as f64 - 1e-9) * self.ideal_cents as f64 / 5.0).ceil() as i64;
            while self.stars(floor - 1) >= stars {
                floor -= 1;
            }
            while self.stars(floor) < stars {
                floor += 1;
            }
            floors = Some(floor);
        }
        if let Some(g) = self.grade(total) {
            let floor = self.grade_floors[g];
            floors = Some(floors.map_or(floor, |f| f.max(floor)));
        }
        floors
    }
}

/// Sales-ready sets at the threshold and clears only below threshold − hysteresis.
pub fn next_ready(ready: bool, total: i64, threshold: i64, hysteresis: i64) -> bool {
    if ready {
        total >= threshold - hysteresis
    } else {
        total >= threshold
    }
}

pub struct Scoring {
    pub rater: Rater,
    pub threshold: i64,
    pub hysteresis: i64,
    pub resolution: i64,
    pub interval: f64, // seconds between decay re-scores
}

/// What a consumer of scores tells apart: (rounded total, stars, sales-ready, grade).
pub type Key<'a> = (i64, i64, bool, Option<&'a str>);

impl Scoring {
    pub fn key<'a>(&self, total: i64, stars: i64, ready: bool, grade: Option<&'a str>) -> Key<'a> {
        (
            round_half_even(total as f64 / self.resolution as f64),
            stars,
            ready,
            grade,
        )
    }

    /// The highest of the floors of what a score of `total` (sales-ready or not) published:
    /// the lowest total that rounds alike, has its stars and grade, and keeps sales-ready.
    pub fn floor(&self, total: i64, ready: bool) -> i64 {
        let resolution = self.resolution;
        let rounded = round_half_even(total as f64 / resolution as f64);
        let mut lowest = ((2 * rounded - 1) * resolution).div_euclid(2);
        while round_half_even(lowest as f64 / resolution as f64) < rounded {
            lowest += 1;
        }
        let mut highest = lowest;
        if let Some(alike) = self.rater.lowest_alike(total) {
            highest = highest.max(alike);
        }
        if ready {
            highest = highest.max(self.threshold - self.hysteresis);
        }
        highest
    }

    /// When, after a re-score at `now` that published (or kept) a score of `published` total
    /// and sales-ready flag with `fit` profile points, decay may next change what is published:
    /// `found` is the ledger's decay total (points at the anchor, rules counted, anchor) and
    /// `due` its next change. The re-scores every interval that provably publish nothing are
    /// skipped (the reference's `Scorer.next_rescore` with the re-score's snapshot).
    pub fn next_due(
        &self,
        due: Option<f64>,
        found: Option<(f64, i64, f64)>,
        period: f64,
        published: (i64, bool),
        fit: i64,
        now: f64,
    ) -> Option<f64> {
        due?;
        let quiet = match found {
            None => now,
            Some((weight, rules, anchor)) => {
                let lowest = self.floor(published.0, published.1);
                if lowest <= fit {
                    return None; // even with no engagement left, the published score stands
                }
                let need = (lowest - fit) as f64 + rules as f64 / 2.0;
                if weight <= need {
                    now
                } else {
                    anchor + period * (weight / need).log2() - 1.0
                }
            }
        };
        let steps = (((quiet - now) / self.interval).ceil() as i64).max(1);
        Some(now + steps as f64 * self.interval)
    }
}
