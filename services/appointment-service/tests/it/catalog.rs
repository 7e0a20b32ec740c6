//! The catalog: a clinic admin acts only on their own clinic.

use clinic_common::{
    auth::Role,
    testing::{bearer, error_info},
};
use clinic_proto::pb::appointment::v1 as pb;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{in_hours, spawn_cluster};

#[tokio::test]
async fn a_clinic_admin_cannot_change_another_clinics_catalog_or_schedule() {
    let cluster = spawn_cluster().await;
    let mine = cluster.clinic().await;
    let theirs = cluster.clinic().await;
    let mut client = cluster.client().await;

    let err = client
        .create_doctor(bearer(
            &mine.admin,
            pb::CreateDoctorRequest {
                clinic_id: theirs.clinic_id.clone(),
                first_name: "A".into(),
                last_name: "B".into(),
                specialization: "C".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(error_info(&err).0, "FORBIDDEN");

    let err = client
        .create_predefined_appointment(bearer(
            &mine.admin,
            cluster.new_appointment(&theirs, in_hours(30), 0, 0),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(cluster.count_appointments().await, 0);

    // A center admin creates clinics; a clinic admin cannot.
    let err = client
        .create_clinic(bearer(
            &mine.admin,
            pb::CreateClinicRequest {
                name: "Rogue".into(),
                address: "x".into(),
                city: "y".into(),
                time_zone: "Europe/Belgrade".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn catalog_lists_page_through_a_clinic_and_bad_input_is_typed() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let patient = cluster.token(&Uuid::new_v4().to_string(), Role::Patient, None);
    let mut client = cluster.client().await;

    let doctors = client
        .list_doctors(bearer(
            &patient,
            pb::ListDoctorsRequest {
                clinic_id: f.clinic_id.clone(),
                page_size: 1,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(doctors.doctors.len(), 1);
    let rest = client
        .list_doctors(bearer(
            &patient,
            pb::ListDoctorsRequest {
                clinic_id: f.clinic_id.clone(),
                page_size: 1,
                page_token: doctors.next_page_token,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.doctors.len(), 1);
    assert_ne!(rest.doctors[0].id, doctors.doctors[0].id);

    let rooms = client
        .list_rooms(bearer(
            &patient,
            pb::ListRoomsRequest {
                clinic_id: f.clinic_id.clone(),
                page_size: 10,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rooms.rooms.len(), 2);
    let exams = client
        .list_exam_types(bearer(
            &patient,
            pb::ListExamTypesRequest {
                clinic_id: f.clinic_id.clone(),
                page_size: 10,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(exams.exam_types.len(), 1);
    let clinics = client
        .list_clinics(bearer(
            &patient,
            pb::ListClinicsRequest {
                page_size: 100,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clinics.clinics.len(), 1);

    let dup = client
        .create_room(bearer(
            &f.admin,
            pb::CreateRoomRequest {
                clinic_id: f.clinic_id.clone(),
                name: "room 0".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    let err = client
        .create_clinic(bearer(
            &cluster.center_admin(),
            pb::CreateClinicRequest {
                name: "".into(),
                address: "x".into(),
                city: "y".into(),
                time_zone: "Mars/Olympus Mons".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = client
        .list_rooms(bearer(
            &patient,
            pb::ListRoomsRequest {
                clinic_id: "nope".into(),
                page_size: 0,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}
