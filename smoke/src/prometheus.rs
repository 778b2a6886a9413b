//! Envoy's `/stats/prometheus` text: each sample line as a [`Series`] and each reading
//! as [`Metrics`], with the `# TYPE` of each family, since counters are judged by their
//! increase and gauges by their value.

use std::collections::HashMap;

/// One sample line of `/stats/prometheus`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: f64,
}

impl Series {
    pub(crate) fn matches(&self, name: &str, labels: &[(String, String)]) -> bool {
        self.name == name && labels.iter().all(|(k, v)| self.labels.iter().any(|(sk, sv)| sk == k && sv == v))
    }

    fn key(&self) -> (String, Vec<(String, String)>) {
        let mut labels = self.labels.clone();
        labels.sort();
        (self.name.clone(), labels)
    }

    pub(crate) fn describe(&self) -> String {
        format!("{} {}", format_selector(&self.name, &self.labels), number(self.value))
    }
}

/// A parsed `/stats/prometheus` reading.
#[derive(Clone, Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) series: Vec<Series>,
    /// `# TYPE` by metric family name.
    types: HashMap<String, String>,
    values: HashMap<(String, Vec<(String, String)>), f64>,
}

impl Metrics {
    pub(crate) fn parse(text: &str) -> Metrics {
        let mut metrics = Metrics::default();
        for line in text.lines() {
            let line = line.trim();
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                if let (Some("TYPE"), Some(name), Some(kind)) = (words.next(), words.next(), words.next()) {
                    metrics.types.insert(name.to_string(), kind.to_string());
                }
                continue;
            }
            if let Some(series) = parse_sample(line) {
                metrics.values.insert(series.key(), series.value);
                metrics.series.push(series);
            }
        }
        metrics
    }

    /// The value of the same series in this reading (0 when it was not there yet).
    pub(crate) fn value_of(&self, series: &Series) -> f64 {
        self.values.get(&series.key()).copied().unwrap_or(0.0)
    }

    /// Whether the series name belongs to a gauge (whose value, not its change, is
    /// what an expectation means).
    pub(crate) fn is_gauge(&self, name: &str) -> bool {
        let family = self.types.get(name).or_else(|| {
            ["_bucket", "_sum", "_count"].iter().find_map(|suffix| self.types.get(name.strip_suffix(suffix)?))
        });
        family.is_some_and(|kind| kind == "gauge")
    }
}

/// `name{label="value",...} value [timestamp]`, or `None` for anything else.
fn parse_sample(line: &str) -> Option<Series> {
    if line.is_empty() {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let end;
        loop {
            // Skip separators.
            while let Some(&(_, c)) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.peek() {
                Some(&(i, '}')) => {
                    end = i;
                    break;
                }
                None => return None,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    c => value.push(c),
                }
            }
            labels.push((key.trim().to_string(), value));
        }
        rest = &after[end + 1..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    Some(Series { name: name.to_string(), labels, value })
}

/// A metric value as people write it: `2`, not `2.0`.
pub(crate) fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{}", value as i64) } else { format!("{value}") }
}

/// A metric selector as users write it: `name{label="value",...}`.
pub(crate) fn format_selector(name: &str, labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_samples_are_parsed_with_labels_and_escapes() {
        let text = "# TYPE envoy_cluster_upstream_rq_total counter\n\
                    envoy_cluster_upstream_rq_total{envoy_cluster_name=\"upstream\"} 4\n\
                    # TYPE envoy_server_live gauge\n\
                    envoy_server_live{} 1\n\
                    odd{a=\"x\\\"y\",b=\"1,2\"} 2.5\n\
                    h_bucket{le=\"+Inf\"} 3\n";
        let metrics = Metrics::parse(text);
        assert_eq!(metrics.series.len(), 4);
        let labels = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(metrics.series[0].labels, labels(&[("envoy_cluster_name", "upstream")]));
        assert_eq!(metrics.series[1].labels, labels(&[]));
        assert_eq!(metrics.series[2].labels, labels(&[("a", "x\"y"), ("b", "1,2")]));
        assert_eq!(metrics.series[2].value, 2.5);
        assert!(metrics.is_gauge("envoy_server_live"));
        assert!(!metrics.is_gauge("envoy_cluster_upstream_rq_total"));
    }
}
