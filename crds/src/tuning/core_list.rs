//! The kernel's core-list syntax (`"2-5,8"`), as in `isolcpus=` and `/sys/devices/system/cpu/*`.

/// A core list that does not follow the kernel's `"2-5,8"` syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreListError {
    /// An element between commas is empty (`"1,,2"`, trailing comma).
    #[error("core list {list:?} has an empty element; write e.g. \"2-5,8\"")]
    EmptyElement {
        /// The whole list.
        list: String,
    },
    /// An element is not a number or a `first-last` range.
    #[error("core list {list:?}: {element:?} is not a core number or a range like 2-5")]
    BadElement {
        /// The whole list.
        list: String,
        /// The element that is wrong.
        element: String,
    },
    /// A range whose end is below its start (`"5-2"`).
    #[error("core list {list:?}: range {element:?} ends before it starts")]
    ReversedRange {
        /// The whole list.
        list: String,
        /// The range that is wrong.
        element: String,
    },
}

/// Parses a kernel core list (`"2-5,8"`, as in `isolcpus=` or `/sys/devices/system/cpu/online`)
/// into sorted, de-duplicated core numbers. Surrounding whitespace (sysfs' trailing newline) is
/// ignored; an empty string is an empty list.
pub fn parse_core_list(list: &str) -> Result<Vec<u32>, CoreListError> {
    let trimmed = list.trim();
    let mut cores = Vec::new();
    if trimmed.is_empty() {
        return Ok(cores);
    }
    for element in trimmed.split(',') {
        let element = element.trim();
        if element.is_empty() {
            return Err(CoreListError::EmptyElement {
                list: list.to_owned(),
            });
        }
        let bad = || CoreListError::BadElement {
            list: list.to_owned(),
            element: element.to_owned(),
        };
        let number = |s: &str| {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse::<u32>().map_err(|_| bad())
        };
        match element.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (number(first)?, number(last)?);
                if last < first {
                    return Err(CoreListError::ReversedRange {
                        list: list.to_owned(),
                        element: element.to_owned(),
                    });
                }
                cores.extend(first..=last);
            }
            None => cores.push(number(element)?),
        }
    }
    cores.sort_unstable();
    cores.dedup();
    Ok(cores)
}

/// Formats cores as the shortest kernel core list (`[2, 3, 4, 5, 8]` -> `"2-5,8"`).
pub fn format_core_list(cores: &[u32]) -> String {
    let mut sorted = cores.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut iter = sorted.into_iter().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last += 1;
            iter.next();
        }
        parts.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
    }
    parts.join(",")
}
