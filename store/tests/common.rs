#![allow(dead_code)]
use gridwork_model::*;
use gridwork_store::*;

pub fn worker() -> Identity {
    Identity::new("w1", Role::Worker)
}

pub fn store_in(dir: &std::path::Path, name: &str, id: Identity) -> Store {
    Store::open(dir.join(name), id).expect("open store")
}

pub fn report(grid: &str, title: &str) -> NewReport {
    NewReport {
        grid: grid.into(),
        category: ReportCategory::FireHazard,
        severity: 2,
        title: title.into(),
        description: "三楼楼道堆放大量纸箱，堵塞消防通道，存在火灾隐患。".into(),
        location: Some(Location {
            lat: 36.6512,
            lon: 117.1201,
            accuracy_m: 8.0,
            address: Some("历下区文化东路12号".into()),
        }),
        submit: false,
    }
}

/// A valid 18-digit resident ID built from 17 digits.
pub fn valid_id(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}
