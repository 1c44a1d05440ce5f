//! National public holidays by country rules, for runs that name a country instead of (or
//! besides) a holidays table: each holiday is a rule (a fixed date, an offset from Easter
//! Sunday, or the n-th weekday of a month) with the years it applies, and its dates become
//! holiday rows like a planner's table.
//!
//! Why rules and not a data file: they cover any year a run needs (the history and the
//! horizon) without a table that runs out. The dates are the holidays themselves, not the
//! observed days off when one falls on a weekend (demand moves on the day). They are checked
//! against the `holidays` Python package, the calendar the `prophet` package uses (this
//! module's tests read `references/forecast/country_holidays.json`). The nations of the United
//! Kingdom, the German states and Alsace and Moselle have their own codes (`GB-ENG`, `DE-BY`,
//! `FR-57`, ...), and so have France's overseas departments and collectivities (`FR-971`
//! Guadeloupe ... `FR-WF`) and Italy's provinces (`IT-MI`, `IT-RM`, ...: their patron
//! saints' days): the country's days and the region's own. Other regional holidays (Spanish
//! regions, US states) are a planner's table.

use std::ops::RangeInclusive;

use chrono::{Datelike, Days, NaiveDate, Weekday};

use super::holidays::HolidayRow;
use super::series::DemandError;

/// When a holiday falls in a year.
#[derive(Debug, Clone, Copy)]
enum When {
    Fixed {
        month: u32,
        day: u32,
    },
    /// Days after Easter Sunday (negative: before).
    Easter(i64),
    /// The `n`-th `weekday` of `month` (`n` = -1: the last).
    Nth {
        month: u32,
        weekday: Weekday,
        n: i32,
    },
    /// The last `weekday` before `month`/`day`.
    Before {
        month: u32,
        day: u32,
        weekday: Weekday,
    },
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    name: &'static str,
    when: When,
    since: i32,
    until: i32,
}

const fn rule(name: &'static str, when: When) -> Rule {
    Rule {
        name,
        when,
        since: i32::MIN,
        until: i32::MAX,
    }
}

const fn fixed(name: &'static str, month: u32, day: u32) -> Rule {
    rule(name, When::Fixed { month, day })
}

const fn nth(name: &'static str, month: u32, weekday: Weekday, n: i32) -> Rule {
    rule(name, When::Nth { month, weekday, n })
}

/// Holidays several calendars share, each under one name.
const GOOD_FRIDAY: Rule = rule("good_friday", When::Easter(-2));
const EASTER_MONDAY: Rule = rule("easter_monday", When::Easter(1));
const ASCENSION_DAY: Rule = rule("ascension_day", When::Easter(39));
const WHIT_MONDAY: Rule = rule("whit_monday", When::Easter(50));
const CORPUS_CHRISTI: Rule = rule("corpus_christi", When::Easter(60));
const EPIPHANY: Rule = fixed("epiphany", 1, 6);
const ALL_SAINTS: Rule = fixed("all_saints_day", 11, 1);
const REFORMATION_DAY: Rule = fixed("reformation_day", 10, 31);
const INTERNATIONAL_WOMENS_DAY: Rule = fixed("international_womens_day", 3, 8);

const US: &[Rule] = &[
    fixed("new_years_day", 1, 1),
    Rule {
        since: 1986,
        ..nth("martin_luther_king_jr_day", 1, Weekday::Mon, 3)
    },
    nth("washingtons_birthday", 2, Weekday::Mon, 3),
    nth("memorial_day", 5, Weekday::Mon, -1),
    Rule {
        since: 2021,
        ..fixed("juneteenth", 6, 19)
    },
    fixed("independence_day", 7, 4),
    nth("labor_day", 9, Weekday::Mon, 1),
    nth("columbus_day", 10, Weekday::Mon, 2),
    fixed("veterans_day", 11, 11),
    nth("thanksgiving", 11, Weekday::Thu, 4),
    fixed("christmas_day", 12, 25),
];

/// The Wednesday before 23 November.
const REPENTANCE_AND_PRAYER_DAY: Rule = rule(
    "repentance_and_prayer_day",
    When::Before {
        month: 11,
        day: 23,
        weekday: Weekday::Wed,
    },
);

const DE: &[Rule] = &[
    fixed("new_years_day", 1, 1),
    GOOD_FRIDAY,
    EASTER_MONDAY,
    fixed("labour_day", 5, 1),
    ASCENSION_DAY,
    WHIT_MONDAY,
    fixed("german_unity_day", 10, 3),
    // Repentance and Prayer Day, a national holiday until 1994.
    Rule {
        until: 1994,
        ..REPENTANCE_AND_PRAYER_DAY
    },
    // The 500th anniversary of the Reformation: a holiday in every state that year only.
    Rule {
        since: 2017,
        until: 2017,
        ..REFORMATION_DAY
    },
    fixed("christmas_day", 12, 25),
    fixed("second_day_of_christmas", 12, 26),
];

const FR: &[Rule] = &[
    fixed("new_years_day", 1, 1),
    EASTER_MONDAY,
    fixed("labour_day", 5, 1),
    fixed("victory_day", 5, 8),
    ASCENSION_DAY,
    // A working "day of solidarity" from 2005 to 2007.
    Rule {
        until: 2004,
        ..WHIT_MONDAY
    },
    Rule {
        since: 2008,
        ..WHIT_MONDAY
    },
    fixed("national_day", 7, 14),
    fixed("assumption_day", 8, 15),
    ALL_SAINTS,
    fixed("armistice_day", 11, 11),
    fixed("christmas_day", 12, 25),
];

const IT: &[Rule] = &[
    fixed("new_years_day", 1, 1),
    EPIPHANY,
    rule("easter_sunday", When::Easter(0)),
    EASTER_MONDAY,
    fixed("liberation_day", 4, 25),
    fixed("labour_day", 5, 1),
    // Republic Day was kept on the first Sunday of June until 2000.
    Rule {
        until: 2000,
        ..nth("republic_day", 6, Weekday::Sun, 1)
    },
    Rule {
        since: 2001,
        ..fixed("republic_day", 6, 2)
    },
    fixed("assumption_day", 8, 15),
    nth("national_unity_day", 11, Weekday::Sun, 1),
    // Saint Francis of Assisi, patron saint of Italy, a national holiday again from 2026.
    Rule {
        since: 2026,
        ..fixed("saint_francis_day", 10, 4)
    },
    ALL_SAINTS,
    fixed("immaculate_conception", 12, 8),
    fixed("christmas_day", 12, 25),
    fixed("saint_stephens_day", 12, 26),
    // The 150th anniversary of the unification, that year only.
    Rule {
        since: 2011,
        until: 2011,
        ..fixed("unification_anniversary", 3, 17)
    },
];

const AT: &[Rule] = &[
    fixed("new_years_day", 1, 1),
    EPIPHANY,
    EASTER_MONDAY,
    fixed("labour_day", 5, 1),
    ASCENSION_DAY,
    WHIT_MONDAY,
    CORPUS_CHRISTI,
    fixed("assumption_day", 8, 15),
    fixed("national_day", 10, 26),
    ALL_SAINTS,
    fixed("immaculate_conception", 12, 8),
    fixed("christmas_day", 12, 25),
    fixed("saint_stephens_day", 12, 26),
];

/// Spain's holidays common to every region (regions add their own: give those as a table).
const ES: &[Rule] = &[
    fixed("new_years_day", 1, 1),
    EPIPHANY,
    GOOD_FRIDAY,
    fixed("labour_day", 5, 1),
    fixed("assumption_day", 8, 15),
    fixed("national_day", 10, 12),
    ALL_SAINTS,
    fixed("constitution_day", 12, 6),
    fixed("immaculate_conception", 12, 8),
    fixed("christmas_day", 12, 25),
];

/// A holiday of one year only.
const fn once(name: &'static str, year: i32, month: u32, day: u32) -> Rule {
    Rule {
        since: year,
        until: year,
        ..fixed(name, month, day)
    }
}

/// The United Kingdom's bank holidays common to all four nations (England, Wales and Northern
/// Ireland add Easter Monday and the August bank holiday, Scotland its own: give those as a
/// table), with the years the May holidays moved and the one-off days.
const GB: &[Rule] = &[
    fixed("new_years_day", 1, 1),
    GOOD_FRIDAY,
    // Early May bank holiday: the first Monday of May, moved to VE Day's 50th and 75th
    // anniversaries.
    Rule {
        until: 1994,
        ..nth("may_day", 5, Weekday::Mon, 1)
    },
    Rule {
        since: 1996,
        until: 2019,
        ..nth("may_day", 5, Weekday::Mon, 1)
    },
    Rule {
        since: 2021,
        ..nth("may_day", 5, Weekday::Mon, 1)
    },
    once("may_day", 1995, 5, 8),
    once("may_day", 2020, 5, 8),
    // Spring bank holiday: the last Monday of May, moved for the jubilees.
    Rule {
        until: 2001,
        ..nth("spring_bank_holiday", 5, Weekday::Mon, -1)
    },
    Rule {
        since: 2003,
        until: 2011,
        ..nth("spring_bank_holiday", 5, Weekday::Mon, -1)
    },
    Rule {
        since: 2013,
        until: 2021,
        ..nth("spring_bank_holiday", 5, Weekday::Mon, -1)
    },
    Rule {
        since: 2023,
        ..nth("spring_bank_holiday", 5, Weekday::Mon, -1)
    },
    once("spring_bank_holiday", 2002, 6, 4),
    once("spring_bank_holiday", 2012, 6, 4),
    once("spring_bank_holiday", 2022, 6, 2),
    fixed("christmas_day", 12, 25),
    fixed("boxing_day", 12, 26),
    once("millennium_celebrations", 1999, 12, 31),
    once("golden_jubilee", 2002, 6, 3),
    once("royal_wedding", 2011, 4, 29),
    once("diamond_jubilee", 2012, 6, 5),
    once("platinum_jubilee", 2022, 6, 3),
    once("state_funeral_of_queen_elizabeth_ii", 2022, 9, 19),
    once("coronation_of_charles_iii", 2023, 5, 8),
];

/// What England and Wales add to the United Kingdom's days.
const GB_ENG_WLS: &[Rule] = &[
    EASTER_MONDAY,
    nth("late_summer_bank_holiday", 8, Weekday::Mon, -1),
];

/// What Northern Ireland adds.
const GB_NIR: &[Rule] = &[
    fixed("saint_patricks_day", 3, 17),
    EASTER_MONDAY,
    fixed("battle_of_the_boyne", 7, 12),
    nth("late_summer_bank_holiday", 8, Weekday::Mon, -1),
];

/// What Scotland adds.
const GB_SCT: &[Rule] = &[
    fixed("new_year_holiday", 1, 2),
    nth("summer_bank_holiday", 8, Weekday::Mon, 1),
    Rule {
        since: 2006,
        ..fixed("saint_andrews_day", 11, 30)
    },
    once("fifa_world_cup_final", 2026, 6, 15),
];

/// `r` from `year` on.
const fn since(year: i32, r: Rule) -> Rule {
    Rule { since: year, ..r }
}

/// Reformation Day in a state that kept it every year (2017 is already a national day).
const REFORMATION_UNTIL_2016: Rule = Rule {
    until: 2016,
    ..REFORMATION_DAY
};
const REFORMATION_SINCE_2018: Rule = since(2018, REFORMATION_DAY);

/// What Baden-Württemberg and Bavaria add to Germany's national days (Bavaria's Assumption
/// Day is a holiday in its Catholic communities only, so not state-wide).
const DE_BW_BY: &[Rule] = &[EPIPHANY, CORPUS_CHRISTI, ALL_SAINTS];
/// Berlin: International Women's Day since 2019 and the one-off anniversaries.
const DE_BE: &[Rule] = &[
    since(2019, INTERNATIONAL_WOMENS_DAY),
    once("liberation_day", 2020, 5, 8),
    once("liberation_day", 2025, 5, 8),
    once("east_german_uprising_anniversary", 2028, 6, 17),
];
/// Brandenburg: Easter Sunday, Whit Sunday and Reformation Day.
const DE_BB: &[Rule] = &[
    rule("easter_sunday", When::Easter(0)),
    rule("whit_sunday", When::Easter(49)),
    REFORMATION_UNTIL_2016,
    REFORMATION_SINCE_2018,
];
/// Bremen, Hamburg, Lower Saxony and Schleswig-Holstein made Reformation Day a holiday in 2018.
const DE_NORTH: &[Rule] = &[REFORMATION_SINCE_2018];
/// Hesse.
const DE_HE: &[Rule] = &[CORPUS_CHRISTI];
/// Mecklenburg-Western Pomerania: Reformation Day, International Women's Day since 2023.
const DE_MV: &[Rule] = &[
    REFORMATION_UNTIL_2016,
    REFORMATION_SINCE_2018,
    since(2023, INTERNATIONAL_WOMENS_DAY),
];
/// North Rhine-Westphalia and Rhineland-Palatinate.
const DE_NW_RP: &[Rule] = &[CORPUS_CHRISTI, ALL_SAINTS];
/// Saarland.
const DE_SL: &[Rule] = &[CORPUS_CHRISTI, fixed("assumption_day", 8, 15), ALL_SAINTS];
/// Saxony: Reformation Day, and Repentance and Prayer Day, which it kept when the rest of
/// Germany gave it up in 1995.
const DE_SN: &[Rule] = &[
    REFORMATION_UNTIL_2016,
    REFORMATION_SINCE_2018,
    since(1995, REPENTANCE_AND_PRAYER_DAY),
];
/// Saxony-Anhalt.
const DE_ST: &[Rule] = &[EPIPHANY, REFORMATION_UNTIL_2016, REFORMATION_SINCE_2018];
/// Thuringia: Reformation Day, World Children's Day since 2019.
const DE_TH: &[Rule] = &[
    REFORMATION_UNTIL_2016,
    REFORMATION_SINCE_2018,
    since(2019, fixed("world_childrens_day", 9, 20)),
];

/// What Alsace and Moselle keep from their local law: Good Friday and St Stephen's Day.
const FR_ALSACE_MOSELLE: &[Rule] = &[GOOD_FRIDAY, fixed("saint_stephens_day", 12, 26)];

const SCHOELCHER_DAY: Rule = fixed("victor_schoelcher_day", 7, 21);

/// Guadeloupe: Mi-Carême (the Thursday of Lent's third week), Good Friday, the abolition of
/// slavery (27 May) and Victor Schœlcher Day.
const FR_971: &[Rule] = &[
    rule("mi_careme", When::Easter(-24)),
    GOOD_FRIDAY,
    fixed("abolition_of_slavery", 5, 27),
    SCHOELCHER_DAY,
];
/// Martinique: the abolition of slavery (22 May) and Victor Schœlcher Day.
const FR_972: &[Rule] = &[fixed("abolition_of_slavery", 5, 22), SCHOELCHER_DAY];
/// French Guiana, Réunion and Mayotte: the abolition of slavery, each on its own date.
const FR_973: &[Rule] = &[fixed("abolition_of_slavery", 6, 10)];
const FR_974: &[Rule] = &[fixed("abolition_of_slavery", 12, 20)];
const FR_976: &[Rule] = &[fixed("abolition_of_slavery", 4, 27)];
/// Saint Barthélemy and Saint Martin, collectivities since 2007, by the `holidays` package
/// from 2012 (2013 for Saint Martin's abolition day).
const FR_BL: &[Rule] = &[since(2012, fixed("abolition_of_slavery", 10, 9))];
const FR_MF: &[Rule] = &[
    since(2012, SCHOELCHER_DAY),
    since(2013, fixed("abolition_of_slavery", 5, 28)),
];
/// New Caledonia: 24 September, Annexation Day until 2003, Citizenship Day since.
const FR_NC: &[Rule] = &[
    Rule {
        until: 2003,
        ..fixed("annexation_day", 9, 24)
    },
    since(2004, fixed("citizenship_day", 9, 24)),
];
/// French Polynesia: Missionary Day, Good Friday, Internal Autonomy Day until 2024 and
/// Matāriʻi (20 November) since 2025.
const FR_PF: &[Rule] = &[
    fixed("missionary_day", 3, 5),
    GOOD_FRIDAY,
    Rule {
        until: 2024,
        ..fixed("internal_autonomy_day", 6, 29)
    },
    since(2025, fixed("matarii", 11, 20)),
];
/// Wallis and Futuna: St Peter Chanel, Saints Peter and Paul, Territory Day.
const FR_WF: &[Rule] = &[
    fixed("saint_peter_chanel_day", 4, 28),
    fixed("saints_peter_and_paul_day", 6, 29),
    fixed("territory_day", 7, 29),
];

/// What each Italian province adds to Italy's national days, by its ISO 3166-2 code without
/// the `IT-` (its patron saint's day, in the province's capital by the `holidays` package;
/// Bolzano's Whit Monday since 1993). Biella's and Prato's fall on national holidays.
const IT_PROVINCES: &[(&str, &[Rule])] = &[
    ("AG", &[fixed("saint_gerland_day", 2, 25)]),
    ("AL", &[fixed("saint_baudolino_day", 11, 10)]),
    ("AN", &[fixed("saint_cyriacus_day", 5, 4)]),
    ("AO", &[fixed("saint_grat_day", 9, 7)]),
    ("AP", &[fixed("saint_emidius_day", 8, 5)]),
    ("AQ", &[fixed("saint_maximus_of_aveia_day", 6, 10)]),
    ("AR", &[fixed("saint_donatus_of_arezzo_day", 8, 7)]),
    ("AT", &[nth("saint_secundus_day", 5, Weekday::Tue, 1)]),
    ("AV", &[fixed("saint_modestinus_day", 2, 14)]),
    ("BA", &[fixed("saint_nicholas_day", 12, 6)]),
    ("BG", &[fixed("saint_alexander_of_bergamo_day", 8, 26)]),
    ("BI", &[]),
    ("BL", &[fixed("saint_martin_day", 11, 11)]),
    ("BN", &[fixed("saint_bartholomew_day", 8, 24)]),
    ("BO", &[fixed("saint_petronius_day", 10, 4)]),
    (
        "BR",
        &[nth(
            "saint_theodore_and_saint_lawrence_day",
            9,
            Weekday::Sun,
            1,
        )],
    ),
    ("BS", &[fixed("saints_faustinus_and_jovita_day", 2, 15)]),
    (
        "BT",
        &[
            fixed("saint_nicholas_the_pilgrim_day", 5, 3),
            nth("saint_richard_of_andria_day", 9, Weekday::Sun, 3),
            fixed("saint_roger_day", 12, 30),
        ],
    ),
    ("BZ", &[since(1993, WHIT_MONDAY)]),
    ("CA", &[fixed("saint_saturninus_of_cagliari_day", 10, 30)]),
    ("CB", &[fixed("saint_george_day", 4, 23)]),
    ("CE", &[fixed("saint_sebastian_day", 1, 20)]),
    ("CH", &[fixed("saint_justin_of_chieti_day", 5, 11)]),
    ("CL", &[fixed("saint_michael_the_archangel_day", 9, 29)]),
    ("CN", &[fixed("saint_michael_the_archangel_day", 9, 29)]),
    ("CO", &[fixed("saint_abbondius_day", 8, 31)]),
    ("CR", &[fixed("saint_homobonus_day", 11, 13)]),
    ("CS", &[fixed("our_lady_of_the_pilerio", 2, 12)]),
    ("CT", &[fixed("saint_agatha_day", 2, 5)]),
    ("CZ", &[fixed("saint_vitalian_day", 7, 16)]),
    ("EN", &[fixed("visitation_of_mary_day", 7, 2)]),
    (
        "FC",
        &[
            fixed("our_lady_of_the_fire", 2, 4),
            fixed("saint_john_day", 6, 24),
        ],
    ),
    ("FE", &[fixed("saint_george_day", 4, 23)]),
    ("FG", &[fixed("our_lady_of_the_seven_veils", 3, 22)]),
    ("FI", &[fixed("saint_john_day", 6, 24)]),
    ("FM", &[fixed("assumption_day", 8, 16)]),
    ("FR", &[fixed("saint_silverius_day", 6, 20)]),
    ("GE", &[fixed("saint_john_day", 6, 24)]),
    ("GO", &[fixed("saints_hilary_and_tatian_day", 3, 16)]),
    ("GR", &[fixed("saint_lawrence_day", 8, 10)]),
    (
        "IM",
        &[fixed("saint_leonard_of_porto_maurizio_day", 11, 26)],
    ),
    ("IS", &[fixed("saint_peter_celestine_day", 5, 19)]),
    ("KR", &[fixed("saint_dionysius_day", 10, 9)]),
    ("LC", &[fixed("saint_nicholas_day", 12, 6)]),
    ("LE", &[fixed("saint_orontius_day", 8, 26)]),
    ("LI", &[fixed("saint_julia_day", 5, 22)]),
    ("LO", &[fixed("saint_bassianus_day", 1, 19)]),
    ("LT", &[fixed("saint_maria_goretti_day", 7, 6)]),
    ("LU", &[fixed("saint_paulinus_of_lucca_day", 7, 12)]),
    ("MB", &[fixed("saint_john_day", 6, 24)]),
    ("MC", &[fixed("saint_julian_the_hospitaller_day", 8, 31)]),
    ("ME", &[fixed("our_lady_of_the_letter", 6, 3)]),
    ("MI", &[fixed("saint_ambrose_day", 12, 7)]),
    ("MN", &[fixed("saint_anselm_of_baggio_day", 3, 18)]),
    ("MO", &[fixed("saint_geminianus_day", 1, 31)]),
    ("MS", &[fixed("saint_francis_of_assisi_day", 10, 4)]),
    ("MT", &[fixed("our_lady_of_the_bruna", 7, 2)]),
    ("NA", &[fixed("saint_januarius_day", 9, 19)]),
    ("NO", &[fixed("saint_gaudentius_day", 1, 22)]),
    ("NU", &[fixed("our_lady_of_the_snows", 8, 5)]),
    ("OR", &[fixed("saint_archelaus_day", 2, 13)]),
    ("PA", &[fixed("saint_rosalia_day", 7, 15)]),
    ("PC", &[fixed("saint_antoninus_of_piacenza_day", 7, 4)]),
    ("PD", &[fixed("saint_anthony_of_padua_day", 6, 13)]),
    ("PE", &[fixed("saint_cetteus_day", 10, 10)]),
    (
        "PG",
        &[
            fixed("saint_clare_of_assisi_day", 8, 11),
            fixed("saint_francis_of_assisi_day", 10, 4),
        ],
    ),
    ("PI", &[fixed("saint_ranieri_day", 6, 17)]),
    ("PN", &[fixed("our_lady_of_graces", 9, 8)]),
    ("PO", &[]),
    ("PR", &[fixed("saint_hilary_of_poitiers_day", 1, 13)]),
    ("PT", &[fixed("saint_james_day", 7, 25)]),
    (
        "PU",
        &[
            fixed("saint_crescentinus_day", 6, 1),
            fixed("saint_terentius_of_pesaro_day", 9, 24),
        ],
    ),
    ("PV", &[fixed("saint_syrus_day", 12, 9)]),
    ("PZ", &[fixed("saint_gerard_of_potenza_day", 5, 30)]),
    ("RA", &[fixed("saint_apollinaris_day", 7, 23)]),
    ("RC", &[fixed("saint_george_day", 4, 23)]),
    ("RE", &[fixed("saint_prosper_of_reggio_day", 11, 24)]),
    (
        "RG",
        &[
            fixed("saint_george_day", 4, 23),
            fixed("saint_john_day", 8, 29),
        ],
    ),
    ("RI", &[fixed("saint_barbara_day", 12, 4)]),
    ("RM", &[fixed("saints_peter_and_paul_day", 6, 29)]),
    ("RN", &[fixed("saint_gaudentius_day", 10, 14)]),
    ("RO", &[fixed("saint_bellinus_day", 11, 26)]),
    ("SA", &[fixed("saint_matthew_day", 9, 21)]),
    ("SI", &[fixed("saint_ansanus_day", 12, 1)]),
    ("SO", &[fixed("saints_gervasius_and_protasius_day", 6, 19)]),
    ("SP", &[fixed("saint_joseph_day", 3, 19)]),
    ("SR", &[fixed("saint_lucy_day", 12, 13)]),
    ("SS", &[fixed("saint_nicholas_day", 12, 6)]),
    (
        "SU",
        &[rule(
            "saint_pontian_day",
            When::Before {
                month: 5,
                day: 19,
                weekday: Weekday::Thu,
            },
        )],
    ),
    ("SV", &[fixed("our_lady_of_mercy", 3, 18)]),
    ("TA", &[fixed("saint_catald_day", 5, 10)]),
    ("TE", &[fixed("saint_berardo_day", 12, 19)]),
    ("TN", &[fixed("saint_vigilius_day", 6, 26)]),
    ("TO", &[fixed("saint_john_day", 6, 24)]),
    ("TP", &[fixed("saint_albert_of_trapani_day", 8, 7)]),
    ("TR", &[fixed("saint_valentine_day", 2, 14)]),
    ("TS", &[fixed("saint_justus_day", 11, 3)]),
    ("TV", &[fixed("saint_liberal_day", 4, 27)]),
    (
        "UD",
        &[fixed("saints_hermagoras_and_fortunatus_day", 7, 12)],
    ),
    ("VA", &[fixed("saint_victor_the_moor_day", 5, 8)]),
    ("VB", &[fixed("saint_victor_the_moor_day", 5, 8)]),
    ("VC", &[fixed("saint_eusebius_of_vercelli_day", 8, 1)]),
    ("VE", &[fixed("our_lady_of_health", 11, 21)]),
    ("VI", &[fixed("our_lady_of_monte_berico", 9, 8)]),
    ("VR", &[fixed("saint_zeno_day", 5, 21)]),
    ("VT", &[fixed("saint_rose_of_viterbo_day", 9, 4)]),
    ("VV", &[fixed("saint_leoluca_day", 3, 1)]),
];

/// The countries and regions with rules, by ISO 3166 code; a nation of the United Kingdom, a
/// German state or Alsace and Moselle by its 3166-2 code (the country's days and its own).
pub const COUNTRIES: [&str; 43] = [
    "AT", "DE", "DE-BB", "DE-BE", "DE-BW", "DE-BY", "DE-HB", "DE-HE", "DE-HH", "DE-MV", "DE-NI",
    "DE-NW", "DE-RP", "DE-SH", "DE-SL", "DE-SN", "DE-ST", "DE-TH", "ES", "FR", "FR-57", "FR-67",
    "FR-68", "FR-6AE", "FR-971", "FR-972", "FR-973", "FR-974", "FR-976", "FR-BL", "FR-MF", "FR-NC",
    "FR-PF", "FR-PM", "FR-TF", "FR-WF", "GB", "GB-ENG", "GB-NIR", "GB-SCT", "GB-WLS", "IT", "US",
];

/// Spain's autonomous communities' own days, 2008 to 2035 (`region<TAB>date<TAB>name`, from
/// the `holidays` package by `references/forecast/make_regional_holidays.py`): each
/// community fixes them by decree year by year, so they are a table, not rules.
const ES_REGIONAL: &str = include_str!("data/es_regional_holidays.tsv");
/// The US states' own days, 2008 to 2035, the same way, and the federal days a state does
/// not keep (name `-`): states rename, add and drop days with rules of their own.
const US_STATES: &str = include_str!("data/us_state_holidays.tsv");

/// The regional table of `country` (`ES`, `US`), if it has one.
fn regional_table(country: &str) -> Option<&'static str> {
    match country {
        "ES" => Some(ES_REGIONAL),
        "US" => Some(US_STATES),
        _ => None,
    }
}

/// The rows of `region` (`MD`, `CA`, ...) in `table`, as (date, name; `-`: a national day
/// the region does not keep).
fn regional<'a>(
    table: &'static str,
    region: &'a str,
) -> impl Iterator<Item = (NaiveDate, &'static str)> + 'a {
    table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(move |l| {
            let mut f = l.split('\t');
            let (code, date, name) = (f.next()?, f.next()?, f.next()?);
            (code == region).then_some((date.parse().ok()?, name))
        })
}

/// `country` split into its country and a region with a table (`ES-MD`: `ES`, `MD`).
fn tabled_region(country: &str) -> Option<(&str, &'static str, &str)> {
    let (nation, region) = country.split_once('-')?;
    let table = regional_table(nation)?;
    regional(table, region).next()?;
    Some((nation, table, region))
}

/// The rule sets of `country` (a region: its country's and its own).
fn rules(country: &str) -> Option<Vec<&'static [Rule]>> {
    if let Some((nation, _, _)) = tabled_region(country) {
        return named_rules(nation).map(<[_]>::to_vec);
    }
    if let Some(province) = country.strip_prefix("IT-") {
        return IT_PROVINCES
            .iter()
            .find(|(code, _)| *code == province)
            .map(|(_, own)| vec![IT, *own]);
    }
    named_rules(country).map(<[_]>::to_vec)
}

/// The rule sets of a country or region in [`COUNTRIES`].
fn named_rules(country: &str) -> Option<&'static [&'static [Rule]]> {
    match country {
        "AT" => Some(&[AT]),
        "DE" => Some(&[DE]),
        "DE-BB" => Some(&[DE, DE_BB]),
        "DE-BE" => Some(&[DE, DE_BE]),
        "DE-BW" | "DE-BY" => Some(&[DE, DE_BW_BY]),
        "DE-HB" | "DE-HH" | "DE-NI" | "DE-SH" => Some(&[DE, DE_NORTH]),
        "DE-HE" => Some(&[DE, DE_HE]),
        "DE-MV" => Some(&[DE, DE_MV]),
        "DE-NW" | "DE-RP" => Some(&[DE, DE_NW_RP]),
        "DE-SL" => Some(&[DE, DE_SL]),
        "DE-SN" => Some(&[DE, DE_SN]),
        "DE-ST" => Some(&[DE, DE_ST]),
        "DE-TH" => Some(&[DE, DE_TH]),
        "ES" => Some(&[ES]),
        "FR" => Some(&[FR]),
        // Moselle, and Alsace by its collectivity's code or either of its two departments'.
        "FR-57" | "FR-6AE" | "FR-67" | "FR-68" => Some(&[FR, FR_ALSACE_MOSELLE]),
        "FR-971" => Some(&[FR, FR_971]),
        "FR-972" => Some(&[FR, FR_972]),
        "FR-973" => Some(&[FR, FR_973]),
        "FR-974" => Some(&[FR, FR_974]),
        "FR-976" => Some(&[FR, FR_976]),
        "FR-BL" => Some(&[FR, FR_BL]),
        "FR-MF" => Some(&[FR, FR_MF]),
        "FR-NC" => Some(&[FR, FR_NC]),
        "FR-PF" => Some(&[FR, FR_PF]),
        // Saint Pierre and Miquelon and the Southern and Antarctic Lands: France's days.
        "FR-PM" | "FR-TF" => Some(&[FR]),
        "FR-WF" => Some(&[FR, FR_WF]),
        "GB" => Some(&[GB]),
        "GB-ENG" | "GB-WLS" => Some(&[GB, GB_ENG_WLS]),
        "GB-NIR" => Some(&[GB, GB_NIR]),
        "GB-SCT" => Some(&[GB, GB_SCT]),
        "IT" => Some(&[IT]),
        "US" => Some(&[US]),
        _ => None,
    }
}

/// Checks a country code, naming `field`.
pub fn check(country: &str, field: &str) -> Result<(), DemandError> {
    match rules(country) {
        Some(_) => Ok(()),
        None => Err(DemandError::invalid(
            field,
            format!(
                "no holiday rules for country `{country}` (known: {}, IT-XX for an Italian \
                 province by its ISO 3166-2 code, such as IT-MI, ES-XX for a Spanish \
                 autonomous community, such as ES-MD, and US-XX for a US state or territory, \
                 such as US-CA; give a holidays table for others)",
                COUNTRIES.join(", ")
            ),
        )),
    }
}

/// Easter Sunday of `year` in the Gregorian calendar (the anonymous computus).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let (b, c) = (year / 100, year % 100);
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a date")
}

fn date_of(when: When, year: i32) -> Option<NaiveDate> {
    match when {
        When::Fixed { month, day } => NaiveDate::from_ymd_opt(year, month, day),
        When::Easter(offset) => {
            let e = easter(year);
            if offset >= 0 {
                e.checked_add_days(Days::new(offset as u64))
            } else {
                e.checked_sub_days(Days::new(offset.unsigned_abs()))
            }
        }
        When::Nth { month, weekday, n } if n > 0 => {
            NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8)
        }
        When::Nth { month, weekday, .. } => {
            let next = if month == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(year, month + 1, 1)
            }?;
            on_or_before(next.pred_opt()?, weekday)
        }
        When::Before {
            month,
            day,
            weekday,
        } => on_or_before(
            NaiveDate::from_ymd_opt(year, month, day)?.pred_opt()?,
            weekday,
        ),
    }
}

/// The last `weekday` on or before `date`.
fn on_or_before(date: NaiveDate, weekday: Weekday) -> Option<NaiveDate> {
    let back = (7 + date.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    date.checked_sub_days(Days::new(u64::from(back)))
}

/// A holiday affecting its own day only.
fn on_the_day(holiday: &str, ds: NaiveDate) -> HolidayRow {
    HolidayRow {
        holiday: holiday.to_string(),
        ds,
        lower_window: 0,
        upper_window: 0,
        prior_scale: None,
    }
}

/// Holiday rows for `country`'s holidays in `years`, each holiday its own name and effect,
/// in date order.
pub fn rows(country: &str, years: RangeInclusive<i32>) -> Result<Vec<HolidayRow>, DemandError> {
    check(country, "holidays_country")?;
    let rules: Vec<&Rule> = rules(country)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|set| set.iter())
        .collect();
    let mut out = Vec::new();
    for year in years.clone() {
        for r in rules.iter().filter(|r| (r.since..=r.until).contains(&year)) {
            if let Some(ds) = date_of(r.when, year) {
                out.push(on_the_day(r.name, ds));
            }
        }
    }
    if let Some((_, table, region)) = tabled_region(country) {
        let own: Vec<(NaiveDate, &str)> = regional(table, region)
            .filter(|(ds, _)| years.contains(&ds.year()))
            .collect();
        out.retain(|r| !own.iter().any(|(ds, name)| *name == "-" && *ds == r.ds));
        out.extend(
            own.iter()
                .filter(|(_, name)| *name != "-")
                .map(|(ds, name)| on_the_day(name, *ds)),
        );
    }
    out.sort_by(|a, b| (a.ds, &a.holiday).cmp(&(b.ds, &b.holiday)));
    Ok(out)
}

/// A run's holiday calendar as the model takes it: its `table`, and `country`'s
/// holidays (by rule) over every year from the first series' start to a year past the
/// horizon.
pub fn calendar(
    table: &[HolidayRow],
    country: Option<&str>,
    series: &[super::series::Series],
    horizon: usize,
) -> Result<Vec<super::prophet::Holiday>, DemandError> {
    let mut all = table.to_vec();
    if let (Some(country), Some(first), Some(last)) = (
        country,
        series.iter().map(|s| s.start.date()).min(),
        series.iter().map(|s| s.end().date()).max(),
    ) {
        let until = last.year() + 1 + (horizon / 365) as i32;
        all.extend(rows(country, first.year()..=until)?);
    }
    Ok(super::holidays::to_model(&all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// The name of the holiday on day `ds` among `rows`, if any.
    fn holiday_on<'a>(rows: &'a [HolidayRow], ds: &str) -> Option<&'a str> {
        rows.iter()
            .find(|r| r.ds == d(ds))
            .map(|r| r.holiday.as_str())
    }

    #[test]
    fn a_spanish_community_adds_its_own_days_of_each_year() {
        let madrid = rows("ES-MD", 2026..=2027).unwrap();
        let on = |ds: &str| holiday_on(&madrid, ds);
        // Spain's days by rule, and Madrid's own by decree: its Community day on 2 May, and
        // in 2026 All Saints' and Constitution Day moved from a Sunday to the Monday.
        assert_eq!(on("2026-01-06"), Some("epiphany"));
        assert_eq!(on("2026-05-02"), Some("madrid_day"));
        assert_eq!(on("2026-11-02"), Some("monday_following_all_saints_day"));
        assert_eq!(on("2027-05-02"), None, "a Sunday in 2027: moved");
        assert_eq!(on("2027-05-03"), Some("monday_following_madrid_day"));
        let catalonia = rows("ES-CT", 2026..=2026).unwrap();
        for day in ["2026-06-24", "2026-09-11", "2026-12-26"] {
            assert!(catalonia.iter().any(|r| r.ds == d(day)), "{day}");
        }
        assert!(catalonia.iter().all(|r| r.ds != d("2026-05-02")));
        // Outside the table's years only Spain's days remain; an unknown community is refused.
        assert_eq!(
            rows("ES-MD", 2040..=2040).unwrap(),
            rows("ES", 2040..=2040).unwrap()
        );
        let err = rows("ES-XX", 2026..=2026).unwrap_err().to_string();
        assert!(
            err.contains("ES-XX for a Spanish autonomous community"),
            "{err}"
        );
    }

    #[test]
    fn a_us_state_adds_its_own_days_and_drops_the_federal_ones_it_does_not_keep() {
        let california = rows("US-CA", 2026..=2026).unwrap();
        let on = |ds: &str| holiday_on(&california, ds);
        assert_eq!(on("2026-03-31"), Some("cesar_chavez_day"));
        assert_eq!(on("2026-11-27"), Some("day_after_thanksgiving"));
        assert_eq!(on("2026-11-26"), Some("thanksgiving"));
        // California does not keep Columbus Day (12 October 2026); the federal calendar does.
        assert_eq!(on("2026-10-12"), None);
        let federal = rows("US", 2026..=2026).unwrap();
        assert!(federal.iter().any(|r| r.ds == d("2026-10-12")));
        let massachusetts = rows("US-MA", 2026..=2026).unwrap();
        assert!(
            massachusetts
                .iter()
                .any(|r| r.ds == d("2026-04-20") && r.holiday == "patriots_day"),
            "{massachusetts:?}"
        );
        assert!(rows("US-XX", 2026..=2026).is_err());
    }

    #[test]
    fn easter_and_the_weekday_rules_land_on_known_dates() {
        assert_eq!(easter(2024), d("2024-03-31"));
        assert_eq!(easter(2025), d("2025-04-20"));
        assert_eq!(easter(2000), d("2000-04-23"));
        let us = rows("US", 2024..=2024).unwrap();
        let on = |name: &str| us.iter().find(|r| r.holiday == name).unwrap().ds;
        assert_eq!(on("memorial_day"), d("2024-05-27"));
        assert_eq!(on("thanksgiving"), d("2024-11-28"));
        assert_eq!(on("martin_luther_king_jr_day"), d("2024-01-15"));
        assert!(
            rows("US", 2020..=2020)
                .unwrap()
                .iter()
                .all(|r| r.holiday != "juneteenth")
        );
        assert!(rows("XX", 2024..=2024).is_err());
    }

    /// Every year of every country from the first the `holidays` package covers (1991 for
    /// Germany, after reunification; 2008 for Spain's national calendar; 1990 otherwise) to
    /// 2035: the same dates (`references/forecast/make_holiday_fixtures.py`).
    #[test]
    fn the_rules_give_the_holidays_packages_dates() {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../references/forecast/country_holidays.json"
        ))
        .unwrap();
        let dates = |v: &serde_json::Value| -> std::collections::BTreeSet<NaiveDate> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|v| d(v.as_str().unwrap()))
                .collect()
        };
        let mut cases: Vec<(String, std::collections::BTreeSet<NaiveDate>)> = COUNTRIES
            .iter()
            .map(|code| {
                // Alsace's two departments are the package's Alsace (`6AE`).
                let country = match *code {
                    "FR-67" | "FR-68" => "FR-6AE",
                    other => other,
                };
                (code.to_string(), dates(&fixture["countries"][country]))
            })
            .collect();
        // An Italian province: Italy's dates and the ones it adds.
        let provinces = fixture["it_provinces"].as_object().unwrap();
        assert_eq!(provinces.len(), IT_PROVINCES.len());
        for (code, own) in provinces {
            let mut want = dates(&fixture["countries"]["IT"]);
            want.extend(dates(own));
            cases.push((format!("IT-{code}"), want));
        }
        for (code, want) in &cases {
            let code = code.as_str();
            let first = want.iter().next().unwrap().year();
            let got: std::collections::BTreeSet<NaiveDate> = rows(code, first..=2035)
                .unwrap()
                .iter()
                .map(|r| r.ds)
                .collect();
            let missing: Vec<_> = want.difference(&got).collect();
            let extra: Vec<_> = got.difference(want).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{code}: missing {missing:?}, extra {extra:?}"
            );
        }
    }
}
